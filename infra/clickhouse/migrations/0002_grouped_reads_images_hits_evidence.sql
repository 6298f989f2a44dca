-- Version 2 of the storage: reads shaped for grouped reads and search, images apart from reads,
-- a plate vocabulary for partial and misread-tolerant search, hits, evidence holds and exports,
-- and the retention job's record. No column holds personal information.

-- Reads, one row per (grouped) read; a replayed insert replaces the row with the same key. Evidence
-- holds set `hold` by mutation, and `alpr retention enforce` re-applies them from evidence_holds
-- before it purges anything. Images live in read_images so that searches never read them.
-- Layout measured by benchmarks/storage_bench.py: quarterly partitions (an exact-plate lookup probes
-- every partition, so fewer is faster) and 2048-row granules for point lookups by plate; ZSTD
-- brings a read to about 35 bytes on disk, most of it the random read id. last_seen is derived.
CREATE TABLE IF NOT EXISTS {db}.reads_v2
(
    read_id      String CODEC(ZSTD(3)),
    camera_id    LowCardinality(String),
    captured_at  DateTime64(3, 'UTC') CODEC(ZSTD(3)),
    seen_ms      UInt32 DEFAULT 0 CODEC(ZSTD(3)),
    last_seen    DateTime64(3, 'UTC') ALIAS captured_at + toIntervalMillisecond(seen_ms),
    frames       UInt16 DEFAULT 1,
    plate        String CODEC(ZSTD(3)),
    candidates   Array(String) CODEC(ZSTD(3)),
    confidence   Float32 CODEC(ZSTD(3)),
    latitude     Float64 CODEC(ZSTD(3)),
    longitude    Float64 CODEC(ZSTD(3)),
    detector     LowCardinality(String),
    hold         UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree
PARTITION BY toStartOfQuarter(captured_at)
ORDER BY (plate, captured_at, read_id)
TTL toDateTime(captured_at) + INTERVAL {retention_years} YEAR DELETE WHERE hold = 0
SETTINGS index_granularity = 2048;

-- The plate crop and a downscaled scene of every read: same retention and hold rule as reads.
CREATE TABLE IF NOT EXISTS {db}.read_images
(
    read_id      String,
    captured_at  DateTime64(3, 'UTC'),
    frame_id     String,
    box_x        UInt16,
    box_y        UInt16,
    box_w        UInt16,
    box_h        UInt16,
    crop_jpeg    String CODEC(NONE),
    scene_jpeg   String CODEC(NONE),
    hold         UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(captured_at)
ORDER BY read_id
TTL toDateTime(captured_at) + INTERVAL {retention_years} YEAR DELETE WHERE hold = 0;

-- Move version-1 reads (one table with the crop inside) into the new layout.
INSERT INTO {db}.read_images (read_id, captured_at, frame_id, box_x, box_y, box_w, box_h, crop_jpeg, hold)
SELECT read_id, captured_at, frame_id, box_x, box_y, box_w, box_h, crop_jpeg, hold FROM {db}.reads;
INSERT INTO {db}.reads_v2 (read_id, camera_id, captured_at, plate, confidence, latitude, longitude, detector, hold)
SELECT read_id, camera_id, captured_at, plate, confidence, latitude, longitude, detector, hold FROM {db}.reads;
EXCHANGE TABLES {db}.reads AND {db}.reads_v2;
DROP TABLE {db}.reads_v2;

-- Every distinct plate, with its confusable-folded form: partial and misread-tolerant searches
-- scan this small table, then fetch reads by primary key. Plates with no reads left are pruned
-- by `alpr retention enforce`.
CREATE TABLE IF NOT EXISTS {db}.plates
(
    plate   String,
    folded  String,
    INDEX plate_ngrams plate TYPE ngrambf_v1(3, 8192, 2, 0) GRANULARITY 1
)
ENGINE = ReplacingMergeTree
ORDER BY plate;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.plates_mv TO {db}.plates AS
SELECT plate, translate(plate, '{fold_from}', '{fold_to}') AS folded FROM {db}.reads;

INSERT INTO {db}.plates SELECT DISTINCT plate, translate(plate, '{fold_from}', '{fold_to}') FROM {db}.reads;

-- Hits published to dispatch, kept like the reads they came from.
CREATE TABLE IF NOT EXISTS {db}.hits
(
    hit_id         String,
    read_id        String,
    camera_id      LowCardinality(String),
    captured_at    DateTime64(3, 'UTC'),
    plate          String,
    matched_plate  String,
    list_name      LowCardinality(String),
    entry_id       String,
    match_kind     LowCardinality(String),
    published_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    hold           UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(captured_at)
ORDER BY (plate, captured_at, hit_id)
TTL toDateTime(captured_at) + INTERVAL {retention_years} YEAR DELETE WHERE hold = 0;

-- Evidence holds: one row per case and read; a release is a newer version of the same row.
CREATE TABLE IF NOT EXISTS {db}.evidence_holds
(
    case_id      String,
    read_id      String,
    captured_at  DateTime64(3, 'UTC'),
    held_by      String,
    held_at      DateTime64(3, 'UTC'),
    reason       String,
    released_by  String DEFAULT '',
    released_at  Nullable(DateTime64(3, 'UTC')),
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (case_id, read_id);

-- Every evidence package handed out, with the digest of its checksum list.
CREATE TABLE IF NOT EXISTS {db}.evidence_exports
(
    export_id       String,
    case_id         String,
    exported_by     String,
    exported_at     DateTime64(3, 'UTC'),
    reason          String,
    reads           UInt32,
    files           UInt32,
    package_sha256  String
)
ENGINE = MergeTree
ORDER BY (case_id, exported_at);

-- What each retention enforcement removed.
CREATE TABLE IF NOT EXISTS {db}.retention_runs
(
    run_at           DateTime64(3, 'UTC'),
    retention_years  UInt8,
    cutoff           DateTime64(3, 'UTC'),
    reads_removed    UInt64,
    images_removed   UInt64,
    hits_removed     UInt64,
    plates_removed   UInt64,
    held_reads       UInt64
)
ENGINE = MergeTree
ORDER BY run_at;
