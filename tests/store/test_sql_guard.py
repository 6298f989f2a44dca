from datetime import datetime, timezone

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from alpr.store import db, sql_guard
from alpr.store.sql_guard import SqlRefused

pytestmark = pytest.mark.integration

READ_COLUMNS = ["read_id", "camera_id", "captured_at", "seen_ms", "frames", "plate", "candidates", "confidence",
                "latitude", "longitude", "detector"]


def read(read_id: str, plate: str, minute: int) -> list:
    at = datetime(2026, 1, 2, 12, minute, tzinfo=timezone.utc)
    return [read_id, "cam-1", at, 0, 1, plate, [plate], 0.9, 40.1, -74.2, "test"]


@pytest.fixture
def client(cfg):
    """A migrated database holding three reads (two of 7ABC123) and the image row of the first."""
    c = db.connect(cfg)
    db.migrate(c, cfg)
    d = cfg.clickhouse.database
    c.insert(f"{d}.reads", [read("r1", "7ABC123", 1), read("r2", "8XYZ999", 2), read("r3", "7ABC123", 3)],
             column_names=READ_COLUMNS)
    c.insert(f"{d}.read_images", [["r1", datetime(2026, 1, 2, 12, 1, tzinfo=timezone.utc), "f1"]],
             column_names=["read_id", "captured_at", "frame_id"])
    return c


def test_a_select_by_plate_returns_its_rows_and_names_the_plate(cfg, client):
    checked = sql_guard.check(client, "SELECT read_id, plate FROM reads WHERE plate = '7ABC123' ORDER BY read_id",
                              cfg.clickhouse.database)
    assert checked.tables == ("reads",)
    assert checked.plates == ("7ABC123",)
    assert sql_guard.run(client, checked, audit_id="audit-1") == (
        ["read_id", "plate"], [("r1", "7ABC123"), ("r3", "7ABC123")], False)


@pytest.mark.parametrize(("sql", "tables", "rows"), [
    pytest.param("SELECT r.read_id, i.frame_id FROM reads AS r JOIN read_images AS i USING read_id",
                 ("read_images", "reads"), [("r1", "f1")], id="join"),
    pytest.param("WITH seen AS (SELECT plate, count() AS n FROM reads GROUP BY plate) "
                 "SELECT plate, n FROM seen WHERE n > 1", ("reads",), [("7ABC123", 2)], id="cte"),
    pytest.param("SELECT plate FROM reads WHERE read_id = 'r2' UNION ALL SELECT plate FROM {db}.plates "
                 "WHERE plate = '7ABC123'", ("plates", "reads"), [("8XYZ999",), ("7ABC123",)], id="union"),
    pytest.param("SELECT count() FROM hits WHERE plate IN (SELECT plate FROM reads)", ("hits", "reads"), [(0,)],
                 id="subquery"),
])
def test_allowed_queries_run(cfg, client, sql, tables, rows):
    checked = sql_guard.check(client, sql.format(db=cfg.clickhouse.database), cfg.clickhouse.database)
    assert checked.tables == tables
    _, got, truncated = sql_guard.run(client, checked, audit_id="audit-1")
    assert sorted(got) == sorted(rows) and not truncated


def test_the_row_limit_cuts_the_result_and_says_so(cfg, client):
    checked = sql_guard.check(client, "SELECT read_id FROM reads ORDER BY read_id", cfg.clickhouse.database)
    assert sql_guard.run(client, checked, audit_id="a", max_rows=2) == (["read_id"], [("r1",), ("r2",)], True)
    assert sql_guard.run(client, checked, audit_id="a", max_rows=3) == (["read_id"], [("r1",), ("r2",), ("r3",)], False)


def test_the_audit_gets_plates_normalised_and_like_patterns_as_written(cfg, client):
    sql = ("SELECT * FROM reads WHERE (plate = '7abc-123' OR plate IN ('8XYZ999', 'cam') OR plate LIKE '7AB%') "
           "AND captured_at > '2026-01-01 00:00:00'")
    assert sql_guard.check(client, sql, cfg.clickhouse.database).plates == ("7ABC123", "8XYZ999", "CAM", "7AB%")
    # All-letter text is a plate (a vanity plate) only where it is compared with a plate column.
    sql = "SELECT * FROM reads AS r WHERE has(r.candidates, 'NTGUILTY') OR camera_id = 'north' OR camera_id = 'cam-2'"
    assert sql_guard.check(client, sql, cfg.clickhouse.database).plates == ("NTGUILTY", "CAM2")


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT * FROM system.tables", "system.tables is not allowed: only the LPR tables"),
    ("SELECT * FROM reads WHERE read_id IN (SELECT query FROM system.query_log)", "system.query_log is not allowed"),
    ("SELECT * FROM reads WHERE plate IN system.tables", "system.tables is not allowed"),
    ("SELECT * FROM evidence_holds", "evidence_holds is not allowed"),
    ("SELECT * FROM {db}.schema_migrations", "schema_migrations is not allowed"),
    ("SELECT * FROM default.reads", "default.reads is not allowed"),
    ("SELECT * FROM information_schema.tables", "information_schema.tables is not allowed"),
    ("SELECT * FROM file('x')", "table function file() is not allowed"),
    ("SELECT * FROM url('http://example.com/x', 'CSV')", "table function url() is not allowed"),
    ("SELECT * FROM numbers(10)", "table function numbers() is not allowed"),
    ("SELECT * FROM (EXPLAIN SELECT 1)", "table function viewExplain() is not allowed"),
    ("SELECT file('/etc/hostname')", "function file() is not allowed"),
    ("SELECT dictGet('d', 'a', 1)", "function dictGet() is not allowed"),
    ("INSERT INTO reads (read_id) VALUES ('x')", "only SELECT queries may be run, not INSERT"),
    ("ALTER TABLE reads DELETE WHERE 1", "only SELECT queries may be run, not ALTER"),
    ("DROP TABLE reads", "only SELECT queries may be run, not DROP"),
    ("SET readonly = 0", "only SELECT queries may be run, not SET"),
    ("SELECT 1; DROP TABLE reads", "only one statement may be run"),
    ("SELECT * FROM reads SETTINGS readonly = 0", "SETTINGS clauses are not allowed"),
    ("SELECT * FROM (SELECT * FROM reads SETTINGS readonly = 0)", "SETTINGS clauses are not allowed"),
    ("SELECT * FROM reads INTO OUTFILE 'x.csv'", "INTO OUTFILE is not allowed"),
    ("SELECT * FROM reads FORMAT JSON", "FORMAT clauses are not allowed"),
    ("SELECT * FROM reads FORMAT Native", "FORMAT clauses are not allowed"),
    ("SELECT * FROM reads AS `r\n      TableIdentifier reads`", "structure could not be read"),
    ("SELECT * FROM reads WHERE", "Syntax error: failed at position 26 (end of query)"),
    ("", "Empty query"),
])
def test_refused_queries_say_why_and_change_nothing(cfg, client, sql, reason):
    d = cfg.clickhouse.database
    with pytest.raises(SqlRefused) as refused:
        sql_guard.check(client, sql.format(db=d) if "{db}" in sql else sql, d)
    assert reason in str(refused.value)
    assert len(str(refused.value)) < 300
    assert client.query(f"SELECT count() FROM {d}.reads").result_rows == [(3,)]


def test_read_only_settings_reach_clickhouse(cfg, client):
    settings = sql_guard.read_only_settings("audit-7", max_rows=5, max_seconds=9)
    result = sql_guard._execute(client, "SELECT getSetting('readonly'), getSetting('log_comment'), "
                                "toUInt64(getSetting('max_execution_time')), getSetting('max_result_rows')",
                                cfg.clickhouse.database, settings)
    assert result.result_rows == [(1, "audit-7", 9, 6)]


def test_clickhouse_refuses_writes_under_the_settings_even_without_the_guard(cfg, client):
    d = cfg.clickhouse.database
    settings = sql_guard.read_only_settings("audit-8", max_rows=5, max_seconds=9)
    # On chDB an INSERT's settings are applied with session SETs that readonly=1 keeps from being
    # undone: use a client of its own and drop it.
    bypass = db.connect(cfg)
    with pytest.raises(DatabaseError, match="readonly mode"):
        sql_guard._execute(bypass, "INSERT INTO reads (read_id, plate) SELECT 'x', 'X1'", d, settings)
    with pytest.raises(DatabaseError, match="readonly mode"):
        sql_guard._execute(client, "SELECT * FROM file('x', 'LineAsString')", d, settings)
    assert client.query(f"SELECT count() FROM {d}.reads").result_rows == [(3,)]
