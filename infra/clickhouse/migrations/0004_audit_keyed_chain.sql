-- The access log records where a request came from beyond its IP address (the CLI's host and
-- local user). An empty origin is left out of the record's hash, so older records still verify.
ALTER TABLE {db}.audit_log ADD COLUMN IF NOT EXISTS origin String AFTER client_ip;

-- The chain is keyed: each record's hash is HMAC-SHA256 under the key named here, kept apart from
-- the database (alpr.audit). Records from before have no key id and keep their plain SHA-256.
ALTER TABLE {db}.audit_log ADD COLUMN IF NOT EXISTS key_id String AFTER rows;

-- Signed checkpoints of the chain's head (`alpr audit checkpoint`): a rewrite of any record up to
-- seq changes the hash there. Auditors keep a copy of each outside the database as well.
CREATE TABLE IF NOT EXISTS {db}.audit_checkpoints
(
    seq        UInt64,
    hash       String,
    at         DateTime64(3, 'UTC'),
    key_id     String,
    signature  String
)
ENGINE = MergeTree
ORDER BY (seq, at);
