from datetime import datetime, timezone

from alpr import db
from alpr.domain import Box, FrameMeta, Location, PlateRead
from sinks.clickhouse import READ_COLUMNS, read_row


def test_migrate_is_idempotent_and_sets_retention(cfg):
    client = db.connect(cfg)
    assert db.migrate(client, cfg) == ["0001_reads"]
    assert db.migrate(client, cfg) == []
    ddl = client.command(f"SHOW CREATE TABLE {cfg.clickhouse.database}.reads")
    assert "TTL toDateTime(captured_at) + toIntervalYear(2) WHERE hold = 0" in ddl
    assert "ReplacingMergeTree" in ddl


def test_replayed_reads_are_stored_once(cfg):
    client = db.connect(cfg)
    db.migrate(client, cfg)
    meta = FrameMeta("cam-1", "cam-1-1", datetime(2026, 11, 29, 12, tzinfo=timezone.utc), Location(40.1, -74.2))
    read = PlateRead("a" * 32, meta, "ABC1234", 0.93, Box(1, 2, 30, 10), b"\xff\xd8\x00\x01jpeg", "test")
    table = f"{cfg.clickhouse.database}.reads"
    for _ in range(3):  # a replay after a crash inserts the same rows again
        client.insert(table, [read_row(read)], column_names=READ_COLUMNS)
    rows = client.query(f"SELECT read_id, plate, crop_jpeg FROM {table} FINAL",
                        column_formats={"crop_jpeg": "bytes"}).result_rows
    assert rows == [("a" * 32, "ABC1234", b"\xff\xd8\x00\x01jpeg")]
