-- People allowed in, and the access log auditors review (Civil Code 1798.90.52, CJIS audit events).

-- One row per user; every change is a newer version of the row (ReplacingMergeTree(version)).
-- Passwords are stored only as salted scrypt hashes (alpr.passwords).
CREATE TABLE IF NOT EXISTS {db}.users
(
    username            String,
    full_name           String,
    organisation        String,
    role                LowCardinality(String),
    rank                String,
    password_hash       String,
    disabled            UInt8,
    locked              UInt8,
    trained_at          Nullable(Date),
    certified_until     Nullable(Date),
    policy_reviewed_at  Nullable(Date),
    vetted_at           Nullable(Date),
    waiver_signed_at    Nullable(Date),
    created_at          DateTime64(3, 'UTC'),
    updated_at          DateTime64(3, 'UTC'),
    version             UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY username;

-- Every access decision and account event, append-only and hash-chained: hash = SHA-256 of the
-- previous hash and this record's canonical JSON (alpr.audit). No TTL: kept at least as long as
-- the LPR data it describes; production grants the application INSERT and SELECT only.
CREATE TABLE IF NOT EXISTS {db}.audit_log
(
    seq           UInt64,
    at            DateTime64(3, 'UTC'),
    username      String,
    organisation  String,
    role          LowCardinality(String),
    client_ip     String,
    action        LowCardinality(String),
    terms         String,
    plates        Array(String),
    purpose       String,
    case_id       String,
    outcome       LowCardinality(String),
    reason        String,
    rows          UInt64,
    prev_hash     String,
    hash          String
)
ENGINE = MergeTree
ORDER BY seq;
