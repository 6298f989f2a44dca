"""The production cluster DDL in infra/clickhouse/cluster cannot run on chDB (no Keeper, no cluster,
no access management), so these tests check what chDB can: that every statement parses, that the
tables are the migrated tables in another engine, and that the grants keep analysts read-only."""

from __future__ import annotations

import re
from pathlib import Path

from clickhouse_connect.driver.client import Client

from alpr import db
from alpr.config import Config
from alpr.matching import FOLD_FROM, FOLD_TO

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "infra" / "clickhouse" / "cluster"
TABLES, ACCESS = CLUSTER_DIR / "01_tables.sql", CLUSTER_DIR / "02_access.sql"
ON_CLUSTER = "ON CLUSTER '{cluster}'"
LPR_TABLES = ("reads", "read_images", "hits", "plates")


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


def grants(client: Client, cfg: Config) -> dict[str, list[tuple[set[str], str]]]:
    """{role: [(privileges, table)]} from the GRANT statements, read in ClickHouse's own formatting."""
    out: dict[str, list[tuple[set[str], str]]] = {}
    for statement in statements(ACCESS, cfg):
        if not statement.startswith("GRANT"):
            continue
        text = canonical(client, statement)
        m = re.fullmatch(r"GRANT ON CLUSTER `\{cluster\}` (?P<privs>[A-Z ,]+) ON (?P<target>[\w*]+\.[\w*]+) "
                         r"TO (?P<roles>[\w, ]+)", text)
        assert m, f"keep one privilege list and one table per GRANT, without GRANT OPTION or role grants: {text}"
        for role in m["roles"].split(", "):
            out.setdefault(role, []).append(({p.strip() for p in m["privs"].split(",")}, m["target"]))
    return out


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
    assert set(by_role) == {"alpr_admin", "alpr_ingest", "alpr_analyst", "alpr_auditor"}

    analyst = by_role["alpr_analyst"]
    assert all(privs == {"SELECT"} for privs, _ in analyst), analyst
    assert {t for _, t in analyst} == {f"{d}.{t}{s}" for t in LPR_TABLES for s in ("", "_local")}
    forbidden = ("evidence", "retention", "audit", "schema_migrations", "system.", "*")
    assert not [t for _, t in analyst if any(f in t for f in forbidden)]

    auditor = by_role["alpr_auditor"]
    assert all(privs == {"SELECT"} for privs, _ in auditor), auditor
    assert not [t for _, t in auditor if any(t.startswith(f"{d}.{lpr}") for lpr in LPR_TABLES)]

    ingest = by_role["alpr_ingest"]
    writes = {t for privs, t in ingest if privs & {"ALL", "ALTER", "DROP", "TRUNCATE", "ALTER UPDATE", "ALTER DELETE"}}
    assert not writes, f"ingest only inserts: {writes}"
    assert {t for privs, t in ingest if "SELECT" in privs} == {f"{d}.schema_migrations"}

    for statement in statements(TABLES, cfg) + statements(ACCESS, cfg):
        assert not re.search(r"CREATE USER|IDENTIFIED|PASSWORD", statement, re.I), "no users or secrets in the files"


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
