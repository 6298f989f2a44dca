-- What happened to each hit after it was published (policy 820.8): one row per step, append-only,
-- naming who took it, as what, when, from where, and what they recorded (alpr.store.dispositions).
-- Kept as long as the hits they dispose of.
CREATE TABLE IF NOT EXISTS {db}.hit_dispositions
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
ENGINE = MergeTree
ORDER BY (hit_id, step)
TTL toDateTime(at) + INTERVAL {retention_years} YEAR DELETE;
