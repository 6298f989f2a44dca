-- The issuing state of every read (policy: a plate is its characters and its state; the same
-- characters in two states are two vehicles): the state classifier's USPS code ('' when unread),
-- its probability and the runners-up, voted over the pass's frames. A hit records how the read's
-- state compares with the listed one (same, differs, unknown), the listed state, and whether the
-- hits.state_mismatch policy kept it from dispatch (suppressed = 1: recorded, never published).
ALTER TABLE {db}.reads ADD COLUMN IF NOT EXISTS plate_state LowCardinality(String) DEFAULT '' AFTER confidence;
ALTER TABLE {db}.reads ADD COLUMN IF NOT EXISTS state_confidence Float32 DEFAULT 0 AFTER plate_state;
ALTER TABLE {db}.reads ADD COLUMN IF NOT EXISTS state_candidates Array(LowCardinality(String)) DEFAULT [] AFTER state_confidence;
ALTER TABLE {db}.hits ADD COLUMN IF NOT EXISTS read_state LowCardinality(String) DEFAULT '' AFTER match_kind;
ALTER TABLE {db}.hits ADD COLUMN IF NOT EXISTS state_confidence Float32 DEFAULT 0 AFTER read_state;
ALTER TABLE {db}.hits ADD COLUMN IF NOT EXISTS list_state LowCardinality(String) DEFAULT '' AFTER state_confidence;
ALTER TABLE {db}.hits ADD COLUMN IF NOT EXISTS state_match LowCardinality(String) DEFAULT 'unknown' AFTER list_state;
ALTER TABLE {db}.hits ADD COLUMN IF NOT EXISTS suppressed UInt8 DEFAULT 0 AFTER state_match;
