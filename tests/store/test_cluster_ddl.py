"""The production cluster DDL in infra/clickhouse/cluster cannot run on chDB (no Keeper, no cluster,
no access management), so these tests check what chDB can: that every statement parses, that the
tables are the migrated tables in another engine, and that the grants keep analysts read-only,
password hashes from auditors and the audit log append-only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from alpr.config import Config
from alpr.domain.matching import FOLD_FROM, FOLD_TO
from alpr.store import db

pytestmark = pytest.mark.integration

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "infra" / "clickhouse" / "cluster"
TABLES, ACCESS = CLUSTER_DIR / "01_tables.sql", CLUSTER_DIR / "02_access.sql"
ON_CLUSTER = "ON CLUSTER '{cluster}'"
LPR_TABLES = ("reads", "read_images", "hits", "plates")
ROLES = {"alpr_admin", "alpr_ingest", "alpr_analyst", "alpr_auditor", "alpr_app"}
# Privileges that change or remove what a table holds, by group or one by one ("DELETE" is ClickHouse's
# alias of ALTER DELETE, in case the formatter keeps it).
REWRITES = ("ALL", "ALTER", "DROP", "TRUNCATE", "DELETE", "UPDATE")


def render(sql: str, **values: object) -> str:
    """Fill the named {placeholders} only: {cluster}, {shard} and {replica} are ClickHouse macros
    that the servers expand, and str.format would choke on them."""
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m[1]]) if m[1] in values else m[0], sql)


def statements(path: Path, cfg: Config, database: str | None = None) -> list[str]:
    values = dict(db=database or cfg.clickhouse.database, retention_years=cfg.policy.retention_years,
                  fold_from=FOLD_FROM, fold_to=FOLD_TO)
    return db._statements(render(path.read_text(), **values))


def plain(statement: str) -> str:
    """The single-server form of a cluster statement: no ON CLUSTER, Replicated* engines without
    their Keeper path and replica name."""
    s = statement.replace(f" {ON_CLUSTER}", "")
    s = re.sub(r"Replicated(\w*MergeTree)\('[^']*',\s*'[^']*'(?:,\s*)?", r"\1(", s)
    return s.replace("MergeTree()", "MergeTree")


def canonical(client: Client, statement: str) -> str:
    return client.command("SELECT formatQuerySingleLine(%(q)s)", parameters={"q": statement})


def rows(client: Client, sql: str, database: str) -> list[tuple]:
    return client.query(sql, parameters={"d": database}).result_rows


def test_every_statement_parses(cfg):
    """chDB's parser knows ON CLUSTER, Replicated engines, roles, grants and settings profiles even
    though it can execute none of them, so EXPLAIN AST is a real syntax check."""
    client = db.connect(cfg)
    for path in (TABLES, ACCESS):
        found = statements(path, cfg)
        assert found, path
        for statement in found:
            client.command(f"EXPLAIN AST {statement}")
            if not statement.startswith("INSERT"):
                assert ON_CLUSTER in statement, f"{path.name}: every DDL statement runs on the whole cluster: {statement}"


def test_tables_match_the_migrations(cfg):
    """Each cluster table, created here with plain engines, equals the migrated table: columns,
    codecs, defaults, keys, indexes and TTL. Guards against the two schemas drifting apart."""
    client = db.connect(cfg)
    db.migrate(client, cfg)
    migrated = cfg.clickhouse.database
    cluster = f"{migrated}_cluster"
    client.command(f"CREATE DATABASE {cluster}")
    distributed = {}
    for statement in statements(TABLES, cfg, cluster):
        if statement.startswith(("INSERT", "CREATE DATABASE")):
            continue
        if "ENGINE = Distributed(" in statement:
            distributed[re.search(r"TABLE IF NOT EXISTS \w+\.(\w+) ", statement)[1]] = statement
            continue
        client.command(plain(statement))

    def local_name(name: str) -> str:
        return name.removesuffix("_local")

    tables = "SELECT name, engine, partition_key, sorting_key, primary_key, create_table_query FROM system.tables " \
             "WHERE database = %(d)s ORDER BY name"
    want = {r[0]: r[1:] for r in rows(client, tables, migrated)}
    got = {local_name(r[0]): r[1:] for r in rows(client, tables, cluster)}
    assert sorted(got) == sorted(want), "the cluster file and the migrations define different tables"
    for name, (engine, partition_key, sorting_key, primary_key, ddl) in got.items():
        normalized = ddl.replace(f"{cluster}.", f"{migrated}.").replace("_local", "")
        assert (engine, partition_key, sorting_key, primary_key, normalized) == want[name], name

    columns = "SELECT table, name, position, type, default_kind, default_expression, compression_codec " \
              "FROM system.columns WHERE database = %(d)s ORDER BY table, position"
    got_columns = [(local_name(r[0]), *r[1:]) for r in rows(client, columns, cluster)]
    assert got_columns == rows(client, columns, migrated)
    indices = "SELECT table, name, type_full, expr, granularity FROM system.data_skipping_indices " \
              "WHERE database = %(d)s ORDER BY table, name"
    assert [(local_name(r[0]), *r[1:]) for r in rows(client, indices, cluster)] == rows(client, indices, migrated)

    # Sharded tables: a Distributed table under the application's name over each _local table, on a
    # column of the table's sorting key, so rows that replace each other always meet on one shard.
    sharded = {local_name(r[0]) for r in rows(client, tables, cluster) if r[0].endswith("_local")}
    assert sharded == set(LPR_TABLES)
    assert set(distributed) == sharded
    for name, statement in distributed.items():
        m = re.search(rf"AS {cluster}\.{name}_local\s+ENGINE = Distributed\('\{{cluster\}}', '{cluster}', "
                      rf"'{name}_local', cityHash64\((\w+)\)\)$", statement)
        assert m, statement
        assert m[1] in want[name][2].replace(" ", "").split(","), f"{name} shards on {m[1]}, not on its sorting key"


def test_replicated_paths_are_one_per_table():
    """Two tables on one Keeper path would replicate into each other: each path names its table,
    per shard for the sharded tables and cluster-wide for the full copies."""
    engines = [m.groups() for s in db._statements(TABLES.read_text())
               if (m := re.match(r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+) .*?ENGINE = (\w+)\(([^)]*)\)", s, re.S))]
    assert engines
    replicated = [(name, args) for name, engine, args in engines if engine.startswith("Replicated")]
    assert len(replicated) == len([e for e in engines if e[1] != "Distributed"])
    for name, args in replicated:
        path, replica = [a.strip().strip("'") for a in args.split(",")][:2]
        scope = "{shard}" if name.endswith("_local") else "all"
        assert path == f"/clickhouse/tables/{scope}/{{db}}/{name.removesuffix('_local')}", name
        assert replica == "{replica}", name


def test_schema_migrations_records_every_migration(cfg):
    """migrate() runs at `alpr run` start: on the cluster it must find every migration applied,
    or it would run the chDB form of the missing one there."""
    insert = [s for s in statements(TABLES, cfg) if s.startswith("INSERT INTO")]
    assert len(insert) == 1 and ".schema_migrations (version, name) VALUES" in insert[0]
    recorded = [(int(v), n) for v, n in re.findall(r"\((\d+), '(\w+)'\)", insert[0])]
    assert recorded == [(version, name) for version, name, _ in db.migrations()]


Grant = tuple[set[str], str, tuple[str, ...] | None]


def access(client: Client, cfg: Config) -> list[tuple[str, str, set[str], str, tuple[str, ...] | None]]:
    """(GRANT or REVOKE, role, privileges, table, columns or None) for every GRANT and REVOKE statement,
    in file order, read in ClickHouse's own formatting."""
    out = []
    for statement in statements(ACCESS, cfg):
        if not statement.startswith(("GRANT", "REVOKE")):
            continue
        text = canonical(client, statement)
        m = re.fullmatch(r"(?P<verb>GRANT|REVOKE) ON CLUSTER `\{cluster\}` (?P<privs>[A-Z ,]+?)"
                         r"(?:\((?P<columns>[\w, ]+)\))? ON (?P<target>[\w*]+\.[\w*]+) "
                         r"(?P<to>TO|FROM) (?P<roles>[\w, ]+)", text)
        assert m and (m["verb"], m["to"]) in {("GRANT", "TO"), ("REVOKE", "FROM")}, \
            f"keep one privilege list and one table per GRANT or REVOKE, without GRANT OPTION or role grants: {text}"
        privs = {p.strip() for p in m["privs"].split(",")}
        columns = tuple(c.strip() for c in m["columns"].split(",")) if m["columns"] else None
        assert columns is None or len(privs) == 1, f"a column list for one privilege only: {text}"
        out.extend((m["verb"], role, privs, m["target"], columns) for role in m["roles"].split(", "))
    return out


def grants(client: Client, cfg: Config, verb: str = "GRANT") -> dict[str, list[Grant]]:
    """{role: [(privileges, table, columns or None)]} from the GRANT (or REVOKE) statements."""
    out: dict[str, list[Grant]] = {}
    for v, role, privs, target, columns in access(client, cfg):
        if v == verb:
            out.setdefault(role, []).append((privs, target, columns))
    return out


def rewrites(privs: set[str]) -> set[str]:
    return {p for p in privs if any(w in p.split() for w in REWRITES)}


def profiles(client: Client, cfg: Config) -> dict[str, tuple[dict[str, str], str]]:
    """{profile: ({setting: 'value and constraint'}, assigned to)}."""
    out = {}
    for statement in statements(ACCESS, cfg):
        if statement.startswith("CREATE SETTINGS PROFILE"):
            m = re.fullmatch(r"CREATE SETTINGS PROFILE OR REPLACE `(\w+)` ON CLUSTER `\{cluster\}` SETTINGS (.+) TO (\w+)",
                             canonical(client, statement))
            assert m, statement
            settings = dict((item.split(" ", 1) + [""])[:2] for item in m[2].split(", "))
            out[m[1]] = (settings, m[3])
    return out


def test_analysts_only_read_the_lpr_tables(cfg):
    client = db.connect(cfg)
    d = cfg.clickhouse.database
    by_role = grants(client, cfg)
    assert set(by_role) == ROLES

    analyst = by_role["alpr_analyst"]
    assert all(privs == {"SELECT"} and cols is None for privs, _, cols in analyst), analyst
    assert {t for _, t, _ in analyst} == {f"{d}.{t}{s}" for t in LPR_TABLES for s in ("", "_local")}
    forbidden = ("evidence", "retention", "audit", "users", "schema_migrations", "system.", "*")
    assert not [t for _, t, _ in analyst if any(f in t for f in forbidden)]

    auditor = by_role["alpr_auditor"]
    assert all(privs == {"SELECT"} for privs, _, _ in auditor), auditor
    assert not [t for _, t, _ in auditor if any(t.startswith(f"{d}.{lpr}") for lpr in LPR_TABLES)]

    ingest = by_role["alpr_ingest"]
    writes = {t for privs, t, _ in ingest if rewrites(privs)}
    assert not writes, f"ingest only inserts: {writes}"
    assert {t for privs, t, _ in ingest if "SELECT" in privs} == {f"{d}.schema_migrations"}
    assert not [t for _, t, _ in ingest if t in (f"{d}.audit_log", f"{d}.users")]

    for statement in statements(TABLES, cfg) + statements(ACCESS, cfg):
        # \b: the users table's password_hash column is no secret.
        assert not re.search(r"CREATE USER|IDENTIFIED|\bPASSWORD\b", statement, re.I), "no users or secrets in the files"


def test_auditors_never_see_password_hashes(cfg):
    """Auditors read the audit log and the accounts it names, every users column but password_hash."""
    client = db.connect(cfg)
    db.migrate(client, cfg)
    d = cfg.clickhouse.database
    auditor = grants(client, cfg)["alpr_auditor"]
    assert {t for _, t, _ in auditor} == {f"{d}.evidence_holds", f"{d}.evidence_exports", f"{d}.retention_runs",
                                          f"{d}.hit_dispositions", f"{d}.share_requests", "system.query_log", f"{d}.audit_log",
                                          f"{d}.audit_checkpoints", f"{d}.users"}
    assert [cols for _, t, cols in auditor if t == f"{d}.audit_log"] == [None]
    users = [cols for _, t, cols in auditor if t == f"{d}.users"]
    assert len(users) == 1 and users[0] is not None, "auditors get a column list on users, never the whole table"
    columns = [r[0] for r in rows(client, "SELECT name FROM system.columns WHERE database = %(d)s AND table = 'users' "
                                          "ORDER BY position", d)]
    assert "password_hash" in columns
    assert sorted(users[0]) == sorted(c for c in columns if c != "password_hash"), \
        "auditors get every users column except password_hash (a new column needs adding to the grant)"

    # Only the administrator and the application read password hashes.
    for role, gs in grants(client, cfg).items():
        if role not in ("alpr_admin", "alpr_app", "alpr_auditor"):
            assert not [t for privs, t, _ in gs if t in (f"{d}.users", f"{d}.*", "*.*") and privs & {"SELECT", "ALL"}]


def test_audit_log_is_append_only(cfg):
    """Nobody may change or remove an audit record: the application appends and reads, auditors read,
    and the administrator's ALL on the database is revoked on the audit log (and DROP DATABASE, which
    would take it along). A REVOKE only holds after the GRANT it narrows, so the order is checked too."""
    client = db.connect(cfg)
    d = cfg.clickhouse.database
    audit, everything = f"{d}.audit_log", (f"{d}.*", "*.*")
    statements_in_order = access(client, cfg)
    by_role, revoked = grants(client, cfg), grants(client, cfg, "REVOKE")

    for role, gs in by_role.items():
        direct = set().union(*[privs for privs, t, _ in gs if t == audit])
        assert direct <= {"SELECT", "INSERT"}, f"{role} may rewrite the audit log: {direct}"
        assert not [t for _, t, _ in gs if t.startswith(f"{d}.audit_log_")], "the audit log is one full-copy table"
        wide = set().union(*[privs for privs, t, _ in gs if t in everything])
        if not rewrites(wide) and "INSERT" not in wide:
            continue
        assert wide & {"ALL"}, f"{role}: grant ALL or narrow privileges, nothing in between on {everything}"
        taken = set().union(*[privs for privs, t, _ in revoked.get(role, []) if t == audit])
        assert {"INSERT", "ALTER", "TRUNCATE", "DROP TABLE"} <= taken, f"{role} keeps rights on the audit log: {taken}"
        taken_db = set().union(*[privs for privs, t, _ in revoked.get(role, []) if t == f"{d}.*"])
        assert "DROP DATABASE" in taken_db, f"{role} may drop the database and the audit log with it"
        last_grant = max(i for i, (v, r, privs, t, _) in enumerate(statements_in_order)
                         if v == "GRANT" and r == role and t in everything)
        first_revoke = min(i for i, (v, r, *_) in enumerate(statements_in_order) if v == "REVOKE" and r == role)
        assert first_revoke > last_grant, f"{role}: a REVOKE before the GRANT it narrows is undone by it"
    assert set(revoked) <= {"alpr_admin"}, revoked
    assert all(v == "GRANT" or t in (audit, f"{d}.*") for v, _, _, t, _ in statements_in_order)

    writers = {role for role, gs in by_role.items() for privs, t, _ in gs if t == audit and "INSERT" in privs}
    assert writers == {"alpr_app"}, "only the application appends to the audit log"
    readers = {role for role, gs in by_role.items() for privs, t, _ in gs if t == audit and "SELECT" in privs}
    assert readers == {"alpr_app", "alpr_auditor"}


def test_application_role(cfg):
    """alpr_app: reads the LPR tables, mutates only their local tables (holds, retention), reads and
    appends to the record tables, and never alters the audit log or anything else."""
    client = db.connect(cfg)
    d = cfg.clickhouse.database
    app = grants(client, cfg)["alpr_app"]
    assert all(cols is None for *_, cols in app), "the application reads whole tables (it checks passwords)"
    by_table: dict[str, set[str]] = {}
    for privs, t, _ in app:
        by_table.setdefault(t, set()).update(privs)

    lpr = {f"{d}.{t}{s}" for t in LPR_TABLES for s in ("", "_local")}
    assert {t for t, privs in by_table.items() if "SELECT" in privs} >= lpr
    records = ("users", "audit_log", "audit_checkpoints", "evidence_holds", "evidence_exports", "retention_runs",
               "hit_dispositions", "compliance_runs")
    for name in records:
        assert by_table[f"{d}.{name}"] == {"SELECT", "INSERT"}, name
    assert not rewrites(by_table[f"{d}.audit_log"])
    purged = ("share_requests", "share_letters")  # the request file, purged on its own retention
    for name in purged:
        assert by_table[f"{d}.{name}"] == {"SELECT", "INSERT", "ALTER DELETE"}, name

    altered = {t: rewrites(privs) for t, privs in by_table.items() if rewrites(privs)}
    assert set(altered) == {f"{d}.{t}_local" for t in LPR_TABLES} | {f"{d}.{t}" for t in purged}, \
        "mutations go to the local LPR tables and the request file only"
    assert all(privs <= {"ALTER UPDATE", "ALTER DELETE"} for privs in altered.values()), altered
    assert all("ALTER DELETE" in privs for privs in altered.values())
    inserts = {t for t, privs in by_table.items() if "INSERT" in privs}
    assert inserts == {f"{d}.{name}" for name in records + purged}, "reads, images and hits are written by ingest only"
    assert not [t for t in by_table if t.startswith("system.")]
    assert by_table.get("*.*", set()) <= {"CLUSTER"}
    assert by_table.get(f"{d}.*", set()) <= {"CREATE DATABASE"}


def test_analyst_profile_is_read_only_and_logged(cfg):
    client = db.connect(cfg)
    by_profile = profiles(client, cfg)
    settings, role = by_profile["alpr_analyst_profile"]
    assert role == "alpr_analyst"
    assert settings["readonly"] == "= 1 CONST"
    assert settings["log_queries"] == "= 1 CONST"
    assert settings["log_queries_min_query_duration_ms"] == "= 0 CONST"
    assert settings.pop("log_comment") == "CHANGEABLE_IN_READONLY"
    assert all(v.endswith(" CONST") for v in settings.values()), "analysts can change nothing but log_comment"

    names = sorted({name for s, _ in by_profile.values() for name in s} | {"log_comment"})
    known = client.query("SELECT name FROM system.settings WHERE name IN %(n)s", parameters={"n": names}).result_rows
    assert sorted(r[0] for r in known) == names, "a setting name the server does not know"
