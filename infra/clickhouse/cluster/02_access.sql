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
-- tests/integration/test_cluster_ddl.py parses every statement and checks that analysts get
-- nothing but SELECT on the LPR tables. Keep one privilege list and one table per GRANT.

CREATE ROLE IF NOT EXISTS alpr_admin ON CLUSTER '{cluster}';
CREATE ROLE IF NOT EXISTS alpr_ingest ON CLUSTER '{cluster}';
CREATE ROLE IF NOT EXISTS alpr_analyst ON CLUSTER '{cluster}';
CREATE ROLE IF NOT EXISTS alpr_auditor ON CLUSTER '{cluster}';

-- alpr_admin: applies 01_tables.sql and later schema changes (ON CLUSTER DDL needs CLUSTER), and
-- runs the jobs that mutate stored reads (`alpr retention enforce`, evidence holds) until those
-- get narrower roles.
GRANT ON CLUSTER '{cluster}' ALL ON {db}.* TO alpr_admin;
GRANT ON CLUSTER '{cluster}' CLUSTER ON *.* TO alpr_admin;

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
-- the user, the time and the log_comment, which the search is to set to its audit entry's id
-- once the audit log lands, so the auditor can tie each logged query to its recorded reason. readonly = 1 forbids writes, DDL and
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
-- retention runs) and the query log, which holds the analysts' queries. The query log is per
-- node: read it on each node, or across the cluster with clusterAllReplicas, which needs the
-- REMOTE privilege as well (see README.md).
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.evidence_holds TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.evidence_exports TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON {db}.retention_runs TO alpr_auditor;
GRANT ON CLUSTER '{cluster}' SELECT ON system.query_log TO alpr_auditor;
-- audit_log: grant alpr_auditor SELECT on it (and on audit_log_local if it is sharded) here once
-- 01_tables.sql has it. Analysts get nothing on it.
