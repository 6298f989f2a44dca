-- The access log records where a request came from beyond its IP address (the CLI's host and
-- local user). An empty origin is left out of the record's hash, so older records still verify.
ALTER TABLE {db}.audit_log ADD COLUMN IF NOT EXISTS origin String AFTER client_ip;
