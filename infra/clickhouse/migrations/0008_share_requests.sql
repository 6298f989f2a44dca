-- The file of sharing requests (policy 820.6): every written request from another agency, what it
-- asked, who decided it and what was sent. Kept apart from LPR data and never purged with it: the
-- records role purges requests policy.share_request_retention_years after their last activity
-- (`alpr share purge`). Each change is a newer version of the row (ReplacingMergeTree(version)).
CREATE TABLE IF NOT EXISTS {db}.share_requests
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
ENGINE = ReplacingMergeTree(version)
ORDER BY request_id;

-- The written request itself (letter, e-mail, form), as received; its SHA-256 is on the request.
CREATE TABLE IF NOT EXISTS {db}.share_letters
(
    request_id  String,
    name        String,
    sha256      String,
    data        String,
    stored_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY request_id;
