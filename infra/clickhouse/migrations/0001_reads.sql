-- One row per plate read. No personal information: plate, time, place, camera, image.
-- ReplacingMergeTree on the deterministic read_id makes replays after a crash harmless.
-- Reads expire {retention_years} years after capture unless held as evidence (hold = 1).
CREATE TABLE IF NOT EXISTS {db}.reads
(
    read_id        String,
    frame_id       String,
    camera_id      LowCardinality(String),
    captured_at    DateTime64(3, 'UTC'),
    plate          String,
    confidence     Float32,
    latitude       Float64,
    longitude      Float64,
    box_x          UInt16,
    box_y          UInt16,
    box_w          UInt16,
    box_h          UInt16,
    detector       LowCardinality(String),
    crop_jpeg      String CODEC(NONE),
    hold           UInt8 DEFAULT 0,
    inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(captured_at)
ORDER BY (plate, captured_at, read_id)
TTL toDateTime(captured_at) + INTERVAL {retention_years} YEAR DELETE WHERE hold = 0;
