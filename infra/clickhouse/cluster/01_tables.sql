-- Production shape of the storage schema on a ClickHouse server cluster: the tables of
-- infra/clickhouse/migrations (0001 to 0010, their final state) as Replicated* tables, with a
-- Distributed table under each application name, so `alpr` reads and writes the same names
-- ({db}.reads, {db}.hits, ...) on chDB and on the cluster.
--
-- Template placeholders, filled in before applying (see README.md): {db}, {retention_years},
-- {fold_from}, {fold_to}, with the same values as migrate() uses. The ClickHouse macros {cluster},
-- {shard} and {replica} stay as written: every server expands them from its <macros> config.
--
-- tests/store/test_cluster_ddl.py checks that every statement parses and that each table
-- here has exactly the columns, codecs, keys, indexes and TTL of the migrated chDB table. A new
-- migration needs its cluster form here and its row in schema_migrations at the end.
--
-- Two shapes:
--   sharded     <name>_local (Replicated*, one Keeper path per shard) plus a Distributed <name>.
--               Large, append-mostly LPR data: reads, read_images, hits and the plate vocabulary.
--   full copy   <name> (Replicated*, one Keeper path for the whole cluster, no Distributed table):
--               every node holds every row. Small record tables that jobs must read whole from any
--               node: evidence holds (retention re-applies them on each shard's reads in one local
--               mutation), evidence exports, retention runs, users, the audit log and
--               schema_migrations (migrate() reads it on whichever node it connects to). A
--               Distributed table over a full copy would return each row once per shard, so there
--               is none. {replica} must be unique across the whole cluster for these (the host name
--               is).
--
-- Sharding keys follow each table's deduplication key, so rows that replace each other (a replayed
-- insert) always land on the same shard and ReplacingMergeTree and FINAL still collapse them:
--   reads, hits, plates   cityHash64(plate): one plate's reads, hits and vocabulary row live on one
--                         shard. An exact-plate search touches one shard (optimize_skip_unused_shards),
--                         a partial or misread-tolerant search runs `plate IN (SELECT plate FROM plates
--                         ...)` on every shard against local tables only (distributed_product_mode =
--                         'local', set in the analyst profile), and retention prunes plates without reads
--                         shard by shard. One plate's reads are far too few to skew a shard.
--   read_images           cityHash64(read_id): images are fetched by read_id and are the bulk of the
--                         bytes, so they spread evenly on their own key (the table has no plate column).

CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER '{cluster}';

-- Reads, one row per (grouped) read; see 0002 for the columns. Same retention and hold rule.
CREATE TABLE IF NOT EXISTS {db}.reads_local ON CLUSTER '{cluster}'
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
    plate_state  LowCardinality(String) DEFAULT '',
    state_confidence Float32 DEFAULT 0,
    state_candidates Array(LowCardinality(String)) DEFAULT [],
    latitude     Float64 CODEC(ZSTD(3)),
    longitude    Float64 CODEC(ZSTD(3)),
    detector     LowCardinality(String),
    hold         UInt8 DEFAULT 0
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/reads', '{replica}')
PARTITION BY toStartOfQuarter(captured_at)
ORDER BY (plate, captured_at, read_id)
TTL toDateTime(captured_at) + INTERVAL {retention_years} YEAR DELETE WHERE hold = 0
SETTINGS index_granularity = 2048;

CREATE TABLE IF NOT EXISTS {db}.reads ON CLUSTER '{cluster}' AS {db}.reads_local
ENGINE = Distributed('{cluster}', '{db}', 'reads_local', cityHash64(plate));

-- The plate crop and downscaled scene of every read.
CREATE TABLE IF NOT EXISTS {db}.read_images_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/read_images', '{replica}')
PARTITION BY toYYYYMM(captured_at)
ORDER BY read_id
TTL toDateTime(captured_at) + INTERVAL {retention_years} YEAR DELETE WHERE hold = 0;

CREATE TABLE IF NOT EXISTS {db}.read_images ON CLUSTER '{cluster}' AS {db}.read_images_local
ENGINE = Distributed('{cluster}', '{db}', 'read_images_local', cityHash64(read_id));

-- The plate vocabulary. The view below fills it on each shard from that shard's own reads.
CREATE TABLE IF NOT EXISTS {db}.plates_local ON CLUSTER '{cluster}'
(
    plate   String,
    folded  String,
    INDEX plate_ngrams plate TYPE ngrambf_v1(3, 8192, 2, 0) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/plates', '{replica}')
ORDER BY plate;

-- Same key as reads, so a direct insert (a backfill) puts a plate where the view would have.
CREATE TABLE IF NOT EXISTS {db}.plates ON CLUSTER '{cluster}' AS {db}.plates_local
ENGINE = Distributed('{cluster}', '{db}', 'plates_local', cityHash64(plate));

-- A materialized view fires on inserts into the table it selects from, so it must read
-- reads_local (where the Distributed table delivers the rows) and write plates_local. It runs on
-- every replica's own inserts and replicated parts do not re-fire it, so each shard's vocabulary is
-- filled once per insert.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.plates_mv ON CLUSTER '{cluster}' TO {db}.plates_local AS
SELECT plate, translate(plate, '{fold_from}', '{fold_to}') AS folded FROM {db}.reads_local;

-- Hits published to dispatch, kept like the reads they came from.
CREATE TABLE IF NOT EXISTS {db}.hits_local ON CLUSTER '{cluster}'
(
    hit_id         String,
    read_id        String,
    camera_id      LowCardinality(String),
    captured_at    DateTime64(3, 'UTC'),
    plate          String,
    matched_plate  String,
    list_plate     String DEFAULT '',
    list_name      LowCardinality(String),
    entry_id       String,
    match_kind     LowCardinality(String),
    read_state     LowCardinality(String) DEFAULT '',
    state_confidence Float32 DEFAULT 0,
    list_state     LowCardinality(String) DEFAULT '',
    state_match    LowCardinality(String) DEFAULT 'unknown',
    suppressed     UInt8 DEFAULT 0,
    published_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    hold           UInt8 DEFAULT 0
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/hits', '{replica}')
PARTITION BY toYYYYMM(captured_at)
ORDER BY (plate, captured_at, hit_id)
TTL toDateTime(captured_at) + INTERVAL {retention_years} YEAR DELETE WHERE hold = 0;

CREATE TABLE IF NOT EXISTS {db}.hits ON CLUSTER '{cluster}' AS {db}.hits_local
ENGINE = Distributed('{cluster}', '{db}', 'hits_local', cityHash64(plate));

-- Full copies from here on.

-- Evidence holds: one row per case and read; a release is a newer version of the same row.
CREATE TABLE IF NOT EXISTS {db}.evidence_holds ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/evidence_holds', '{replica}', version)
ORDER BY (case_id, read_id);

-- Every evidence package handed out, with the digest of its checksum list.
CREATE TABLE IF NOT EXISTS {db}.evidence_exports ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{db}/evidence_exports', '{replica}')
ORDER BY (case_id, exported_at);

-- What each retention enforcement removed.
CREATE TABLE IF NOT EXISTS {db}.retention_runs ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{db}/retention_runs', '{replica}')
ORDER BY run_at;

-- The people allowed in (0003): one row per user, every change a newer version of the row. Read on
-- every login and request from whichever node the application reaches. Holds password hashes:
-- 02_access.sql grants auditors every column but password_hash.
CREATE TABLE IF NOT EXISTS {db}.users ON CLUSTER '{cluster}'
(
    username            String,
    full_name           String,
    organisation        String,
    role                LowCardinality(String),
    rank                String,
    unit                String DEFAULT '',
    password_hash       String,
    disabled            UInt8,
    locked              UInt8,
    must_change_password UInt8 DEFAULT 0,
    trained_at          Nullable(Date),
    certified_until     Nullable(Date),
    policy_reviewed_at  Nullable(Date),
    vetted_at           Nullable(Date),
    waiver_signed_at    Nullable(Date),
    created_at          DateTime64(3, 'UTC'),
    updated_at          DateTime64(3, 'UTC'),
    version             UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/users', '{replica}', version)
ORDER BY username;

-- The audit log (0003, 0004): every access decision and account event, append-only and hash-chained
-- (hash = HMAC-SHA256, under the key named by key_id, of the previous hash and the record;
-- alpr.audit), no TTL. A full copy, not sharded, because it is one chain with one global sequence:
-- the application numbers the records under a Redis lock, and each record's hash covers the one
-- before it. Sharded, the chain would be scattered over the shards and only a cross-shard merge by
-- seq could check it; as a full copy every node holds the whole chain and can verify it on its own,
-- and a tampered replica stands out against the others. It is small (one row of text per decision,
-- far less than the reads it describes), so a copy per node costs little. A replica that lags shows
-- a chain cut short until it catches up (SYSTEM SYNC REPLICA first when verifying). Nobody may
-- change or remove a record: 02_access.sql grants the application INSERT and SELECT only, and
-- revokes the rest from alpr_admin.
CREATE TABLE IF NOT EXISTS {db}.audit_log ON CLUSTER '{cluster}'
(
    seq           UInt64,
    at            DateTime64(3, 'UTC'),
    username      String,
    organisation  String,
    role          LowCardinality(String),
    client_ip     String,
    origin        String,
    action        LowCardinality(String),
    terms         String,
    plates        Array(String),
    purpose       String,
    case_id       String,
    outcome       LowCardinality(String),
    reason        String,
    rows          UInt64,
    key_id        String,
    prev_hash     String,
    hash          String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{db}/audit_log', '{replica}')
ORDER BY seq;

-- Signed checkpoints of the audit chain's head (0004, `alpr audit checkpoint`): a full copy beside
-- the log it vouches for. Auditors keep each one outside the database as well.
CREATE TABLE IF NOT EXISTS {db}.audit_checkpoints ON CLUSTER '{cluster}'
(
    seq        UInt64,
    hash       String,
    at         DateTime64(3, 'UTC'),
    key_id     String,
    signature  String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{db}/audit_checkpoints', '{replica}')
ORDER BY (seq, at);

-- What happened to each hit after it was published (0006, policy 820.8): one row per step, a full
-- copy like the users and the audit log.
CREATE TABLE IF NOT EXISTS {db}.hit_dispositions ON CLUSTER '{cluster}'
(
    hit_id      String,
    step        UInt32,
    at          DateTime64(3, 'UTC'),
    action      LowCardinality(String),
    state       LowCardinality(String),
    username    String,
    role        LowCardinality(String),
    client_ip   String,
    note        String,
    fields      String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{db}/hit_dispositions', '{replica}')
ORDER BY (hit_id, step)
TTL toDateTime(at) + INTERVAL {retention_years} YEAR DELETE;

-- The file of sharing requests (0008, policy 820.6) and the written requests themselves: full copies,
-- small records kept apart from the LPR data (no TTL; `alpr share purge` removes requests past
-- policy.share_request_retention_years).
CREATE TABLE IF NOT EXISTS {db}.share_requests ON CLUSTER '{cluster}'
(
    request_id         String,
    received_at        DateTime64(3, 'UTC'),
    entered_by         String,
    agency_name        String,
    agency_ori         String,
    agency_type        LowCardinality(String),
    agency_state       LowCardinality(String),
    requester_name     String,
    requester_title    String,
    requester_contact  String,
    reason             String,
    case_number        String,
    since              DateTime64(3, 'UTC'),
    until              DateTime64(3, 'UTC'),
    plates             Array(String),
    cameras            Array(String),
    area               String,
    letter_name        String,
    letter_sha256      String,
    status             LowCardinality(String),
    refusal_code       LowCardinality(String),
    refusal_reason     String,
    decided_by         String,
    decided_at         Nullable(DateTime64(3, 'UTC')),
    decision_note      String,
    fulfilled_by       String,
    fulfilled_at       Nullable(DateTime64(3, 'UTC')),
    export_id          String,
    package_sha256     String,
    reads_shared       UInt64,
    version            UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/share_requests', '{replica}', version)
ORDER BY request_id;

CREATE TABLE IF NOT EXISTS {db}.share_letters ON CLUSTER '{cluster}'
(
    request_id  String,
    name        String,
    sha256      String,
    data        String,
    stored_at   DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/share_letters', '{replica}')
ORDER BY request_id;

-- Each compliance run (0009, policy 820 and Civil Code 1798.90.51-.55): one row per live check, a
-- full copy like the other record tables, so the API's gauges read the latest run on any node.
CREATE TABLE IF NOT EXISTS {db}.compliance_runs ON CLUSTER '{cluster}'
(
    run_id      String,
    run_at      DateTime64(3, 'UTC'),
    run_by      String,
    check_name  LowCardinality(String),
    clauses     Array(String),
    result      LowCardinality(String),
    detail      String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{db}/compliance_runs', '{replica}')
ORDER BY (run_at, check_name);

-- The migrations this schema stands for, so that migrate() (which `alpr run` calls at start)
-- finds nothing to apply and never runs the chDB form of a migration against the cluster. The
-- same statement as in alpr/store/db.py, as a full copy.
CREATE TABLE IF NOT EXISTS {db}.schema_migrations ON CLUSTER '{cluster}'
(
    version     UInt32,
    name        String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/schema_migrations', '{replica}')
ORDER BY version;

INSERT INTO {db}.schema_migrations (version, name) VALUES
    (1, '0001_reads'),
    (2, '0002_grouped_reads_images_hits_evidence'),
    (3, '0003_users_and_audit_log'),
    (4, '0004_audit_keyed_chain'),
    (5, '0005_users_must_change_password'),
    (6, '0006_hit_dispositions'),
    (7, '0007_console_units_and_list_plates'),
    (8, '0008_share_requests'),
    (9, '0009_compliance_runs'),
    (10, '0010_plate_state');
