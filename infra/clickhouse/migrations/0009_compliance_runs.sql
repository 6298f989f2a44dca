-- Each run of the compliance report (`alpr compliance report`, GET /v1/compliance; policy 820 and
-- Civil Code 1798.90.51-.55): one row per live check, with its result (pass, fail, not_checked), its
-- one-line detail and the clauses it proves. The API's Prometheus gauges read the latest run, so a
-- nightly run that fails or does not happen raises an alert. No LPR data: counts, dates, usernames.
CREATE TABLE IF NOT EXISTS {db}.compliance_runs
(
    run_id      String,
    run_at      DateTime64(3, 'UTC'),
    run_by      String,
    check_name  LowCardinality(String),
    clauses     Array(String),
    result      LowCardinality(String),
    detail      String
)
ENGINE = MergeTree
ORDER BY (run_at, check_name);
