-- Roles and the analyst settings profile for the production cluster, applied after
-- 01_tables.sql by a user with access management (see README.md). Same {db} placeholder.
-- Users are not created here: they carry credentials, so README.md shows how to create them
-- from the environment and grant them one of these roles.
--
-- Roles are created IF NOT EXISTS (re-creating one would drop its grants and take it away from
-- its users), grants are idempotent, and the profile is replaced so a re-run applies edits.
-- ON CLUSTER covers local access storage; with <replicated> user directories it is harmless.
--
-- Every Distributed table below is granted together with its _local table: with an inter-server
-- <secret> in remote_servers the shards run the forwarded query as the initial user and check
-- that user's rights on the local tables, and they log it under that user's name.
--
-- tests/store/test_cluster_ddl.py parses every statement and checks that analysts get
-- nothing but SELECT on the LPR tables, that auditors never see password hashes and that nobody
-- may change or remove an audit record. Keep one privilege list and one table per GRANT or REVOKE.

CREATE ROLE IF NOT EXISTS alpr_admin ON CLUSTER '{cluster}';
CREATE ROLE IF NOT EXISTS alpr_ingest ON CLUSTER '{cluster}';
CREATE ROLE IF NOT EXISTS alpr_analyst ON CLUSTER '{cluster}';
CREATE ROLE IF NOT EXISTS alpr_auditor ON CLUSTER '{cluster}';
CREATE ROLE IF NOT EXISTS alpr_app ON CLUSTER '{cluster}';

-- alpr_admin: applies 01_tables.sql and later schema changes (ON CLUSTER DDL needs CLUSTER). The
-- jobs that mutate stored reads (`alpr retention enforce`, evidence holds) run as alpr_app.
GRANT ON CLUSTER '{cluster}' ALL ON {db}.* TO alpr_admin;
GRANT ON CLUSTER '{cluster}' CLUSTER ON *.* TO alpr_admin;
-- ...all but the means to rewrite history: the audit log is append-only and only the application
-- appends to it (under its Redis lock, which keeps the one sequence; a record inserted past the
-- lock would fork the chain). REVOKE after a broader GRANT is how ClickHouse says "all except", so
-- these must stay after the GRANT ALL above: re-running that GRANT alone restores what they take.
-- ALTER covers every ALTER TABLE: UPDATE and DELETE (also lightweight DELETE FROM), DROP, DETACH and
-- REPLACE PARTITION, DROP/CLEAR/MODIFY COLUMN and MODIFY TTL, any of which could remove records.
-- DROP TABLE also covers DETACH and RENAME. Dropping the whole database would take the audit log
-- with it, so DROP DATABASE goes as well. A later migration that must ALTER the audit log (adding
-- a column) needs a one-off grant, for that statement, from the bootstrap administrator.
REVOKE ON CLUSTER '{cluster}' INSERT, ALTER, TRUNCATE, DROP TABLE ON {db}.audit_log FROM alpr_admin;
REVOKE ON CLUSTER '{cluster}' DROP DATABASE ON {db}.* FROM alpr_admin;

-- alpr_ingest: the read flow (`alpr run`) writes reads, images and hits, nothing else.
GRANT ON CLUSTER '{cluster}' INSERT ON {db}.reads TO alpr_ingest;
GRANT ON CLUSTER '{cluster}' INSERT ON {db}.reads_local TO alpr_ingest;
GRANT ON CLUSTER '{cluster}' INSERT ON {db}.read_images TO alpr_ingest;
GRANT ON CLUSTER '{cluster}' INSERT ON {db}.read_images_local TO alpr_ingest;
GRANT ON CLUSTER '{cluster}' INSERT ON {db}.hits TO alpr_ingest;
GRANT ON CLUSTER '{cluster}' INSERT ON {db}.hits_local TO alpr_ingest;
-- An insert into reads_local pushes rows through plates_mv into plates_local. Servers since 24.4
-- run the view with its definer's rights (the admin who created it), older ones with the
-- inserting user's, which then needs this grant.
GRANT ON CLUSTER '{cluster}' INSERT ON {db}.plates_local TO alpr_ingest;
-- `alpr run` calls migrate() at start. ClickHouse checks the rights for CREATE ... IF NOT EXISTS
-- even when the object exists, so these let that no-op pass. They create nothing but the database
-- and the table 01_tables.sql already made, and a missing migration fails at start for lack of
-- rights instead of running the chDB form of it here.
GRANT ON CLUSTER '{cluster}' CREATE DATABASE ON {db}.* TO alpr_ingest;
GRANT ON CLUSTER '{cluster}' CREATE TABLE ON {db}.schema_migrations TO alpr_ingest;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.schema_migrations TO alpr_ingest;

-- The flow commits Kafka offsets once an insert returns, so an insert must return only when the
-- rows are on their shard, not queued on the receiving node's disk (the older name of
-- distributed_foreground_insert, still accepted as an alias).
CREATE SETTINGS PROFILE OR REPLACE alpr_ingest_profile ON CLUSTER '{cluster}'
SETTINGS insert_distributed_sync = 1
TO alpr_ingest;

-- alpr_analyst: searches the LPR tables (reads, their images, hits and the plate vocabulary) and
-- nothing else: no evidence, retention or audit records, no system tables, no writes.
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.reads TO alpr_analyst;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.reads_local TO alpr_analyst;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.read_images TO alpr_analyst;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.read_images_local TO alpr_analyst;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.hits TO alpr_analyst;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.hits_local TO alpr_analyst;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.plates TO alpr_analyst;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.plates_local TO alpr_analyst;

-- Analysts are read-only, and every query they run is logged: system.query_log keeps the text,
-- the user, the time and the log_comment, which the search is to set to its audit entry's id,
-- so the auditor can tie each logged query to its recorded reason. readonly = 1 forbids writes, DDL and
-- changing settings, and CONST pins each setting even if readonly is ever relaxed. log_comment
-- alone stays changeable in readonly mode (this needs settings_constraints_replace_previous on
-- the server, see README.md). The logging thresholds are pinned to log every query, whatever the
-- server defaults are. A result that would pass max_result_rows is an error rather than silently
-- cut short ('throw'): a search must never look complete when it is not.
-- distributed_product_mode = 'local' lets `plate IN (SELECT plate FROM plates ...)` run against
-- each shard's own plates_local, which holds exactly that shard's plates (see 01_tables.sql).
CREATE SETTINGS PROFILE OR REPLACE alpr_analyst_profile ON CLUSTER '{cluster}'
SETTINGS readonly = 1 CONST,
         log_queries = 1 CONST,
         log_queries_min_type = 'QUERY_START' CONST,
         log_queries_min_query_duration_ms = 0 CONST,
         log_queries_probability = 1 CONST,
         log_comment CHANGEABLE_IN_READONLY,
         max_result_rows = 100000 CONST,
         result_overflow_mode = 'throw' CONST,
         max_execution_time = 60 CONST,
         distributed_product_mode = 'local' CONST
TO alpr_analyst;

-- alpr_auditor: reads the records of what was done with the data (evidence holds and exports,
-- retention runs, who confirmed which hit) and the query log, which holds the analysts' queries. The query log is per
-- node: read it on each node, or across the cluster with clusterAllReplicas, which needs the
-- REMOTE privilege as well (see README.md).
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.evidence_holds TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.evidence_exports TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.retention_runs TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.hit_dispositions TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.share_requests TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON system.query_log TO alpr_auditor;
-- ...and the audit log with the accounts it names (a full copy, so any node answers). Every users
-- column except password_hash: an auditor checks who had which role, training and vetting, never
-- the credentials. A new users column needs adding here (the test compares the list with the
-- table). Analysts get nothing on either table.
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.audit_log TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.audit_checkpoints TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT(username, full_name, organisation, role, rank, unit, disabled, locked,
    must_change_password, trained_at, certified_until, policy_reviewed_at, vetted_at, waiver_signed_at, created_at,
    updated_at, version)
    ON {db}.users TO alpr_auditor;

-- alpr_app: the application processes through which people reach the data (the `alpr` CLI and
-- `alpr serve`). They check the user, the role and the stated purpose, and write the audit record,
-- themselves, so the database user holding this role must be a service account of its own, never
-- a person's user: whoever logs in with it bypasses every check the application makes and writes
-- nothing to the audit log. People get alpr_analyst or alpr_auditor on their own users, or reach the
-- data through the application only.
--
-- Searches, evidence exports and retention read the LPR tables (each Distributed table with its
-- _local table, as above).
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.reads TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.reads_local TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.read_images TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.read_images_local TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.hits TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.hits_local TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.plates TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.plates_local TO alpr_app;
-- Evidence holds set and clear the hold flag, retention enforcement deletes expired unheld rows and
-- plates left without reads. Mutations go to the _local tables ON CLUSTER (Distributed tables take
-- none), hence CLUSTER (on_cluster_queries_require_cluster_grant, see README.md). The plate
-- vocabulary is only ever pruned, never updated, so it gets ALTER DELETE alone.
GRANT ON CLUSTER '{cluster}' ALTER UPDATE, ALTER DELETE ON {db}.reads_local TO alpr_app;
GRANT ON CLUSTER '{cluster}' ALTER UPDATE, ALTER DELETE ON {db}.read_images_local TO alpr_app;
GRANT ON CLUSTER '{cluster}' ALTER UPDATE, ALTER DELETE ON {db}.hits_local TO alpr_app;
GRANT ON CLUSTER '{cluster}' ALTER DELETE ON {db}.plates_local TO alpr_app;
GRANT ON CLUSTER '{cluster}' CLUSTER ON *.* TO alpr_app;
-- The record tables: read and appended to, never changed in place (users and evidence holds take a
-- newer version of a row, ReplacingMergeTree). The audit log gets INSERT and SELECT and nothing
-- else: no ALTER UPDATE or DELETE, no TRUNCATE, no DROP, so not even the application can change
-- or remove a record it wrote. users includes password_hash: the application checks passwords.
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.users TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.audit_log TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.audit_checkpoints TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.hit_dispositions TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.evidence_holds TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.evidence_exports TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.retention_runs TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT ON {db}.compliance_runs TO alpr_app;
-- The file of sharing requests: versions appended, and requests past their own retention purged.
GRANT ON CLUSTER '{cluster}' SELECT, INSERT, ALTER DELETE ON {db}.share_requests TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT, INSERT, ALTER DELETE ON {db}.share_letters TO alpr_app;
-- The CLI calls migrate() on every command: the same no-op rights as alpr_ingest's above.
GRANT ON CLUSTER '{cluster}' CREATE DATABASE ON {db}.* TO alpr_app;
GRANT ON CLUSTER '{cluster}' CREATE TABLE ON {db}.schema_migrations TO alpr_app;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.schema_migrations TO alpr_app;
