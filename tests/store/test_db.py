from datetime import datetime, timezone

import pytest

from alpr.domain.types import Box, FrameMeta, Location, PlateRead
from alpr.store import db
from sinks.clickhouse import IMAGES, READS

pytestmark = pytest.mark.integration

MIGRATIONS = ["0001_reads", "0002_grouped_reads_images_hits_evidence", "0003_users_and_audit_log",
              "0004_audit_keyed_chain", "0005_users_must_change_password", "0006_hit_dispositions",
              "0007_console_units_and_list_plates", "0008_share_requests", "0009_compliance_runs", "0010_plate_state"]


def test_migrate_is_idempotent_and_sets_retention(cfg):
    client = db.connect(cfg)
    assert db.migrate(client, cfg) == MIGRATIONS
    assert db.migrate(client, cfg) == []
    for table in ("reads", "read_images", "hits"):
        ddl = client.command(f"SHOW CREATE TABLE {cfg.clickhouse.database}.{table}")
        assert "TTL toDateTime(captured_at) + toIntervalYear(2) WHERE hold = 0" in ddl
        assert "ReplacingMergeTree" in ddl


def test_version_1_reads_move_to_the_new_layout(cfg):
    """A database created by migration 0001 keeps its reads, their crops and their holds."""
    client = db.connect(cfg)
    d = cfg.clickhouse.database
    version, name, sql = db.migrations()[0]
    client.command(f"CREATE DATABASE {d}")
    for statement in db._statements(sql):
        client.command(statement.format(db=d, retention_years=2))
    client.insert(f"{d}.reads", [["r1", "f1", "cam-1", datetime(2026, 1, 2, tzinfo=timezone.utc), "ABC1234", 0.9,
                                  40.1, -74.2, 1, 2, 3, 4, "ppocr", b"\xff\xd8crop", 1]],
                  column_names=["read_id", "frame_id", "camera_id", "captured_at", "plate", "confidence", "latitude",
                                "longitude", "box_x", "box_y", "box_w", "box_h", "detector", "crop_jpeg", "hold"])
    client.command(f"CREATE TABLE {d}.schema_migrations (version UInt32, name String, applied_at DateTime64(3, 'UTC') "
                   "DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version")
    client.insert(f"{d}.schema_migrations", [[version, name]], column_names=["version", "name"])

    assert db.migrate(client, cfg) == MIGRATIONS[1:]
    assert client.query(f"SELECT read_id, plate, frames, hold FROM {d}.reads").result_rows == [("r1", "ABC1234", 1, 1)]
    assert client.query(f"SELECT frame_id, crop_jpeg, hold FROM {d}.read_images",
                        column_formats={"crop_jpeg": "bytes"}).result_rows == [("f1", b"\xff\xd8crop", 1)]
    assert client.query(f"SELECT plate, folded FROM {d}.plates").result_rows == [("ABC1234", "A8C1234")]


def test_replayed_reads_are_stored_once(cfg):
    client = db.connect(cfg)
    db.migrate(client, cfg)
    d = cfg.clickhouse.database
    meta = FrameMeta("cam-1", "cam-1-1", datetime(2026, 11, 29, 12, tzinfo=timezone.utc), Location(40.1, -74.2))
    read = PlateRead("a" * 32, meta, "ABC1234", 0.93, Box(1, 2, 30, 10), b"\xff\xd8\x00\x01jpeg", "test")
    for _ in range(3):  # a replay after a crash inserts the same rows again
        for table in (IMAGES, READS):
            client.insert(f"{d}.{table.name}", [table.row(read)], column_names=table.columns)
    assert client.query(f"SELECT read_id, plate FROM {d}.reads FINAL").result_rows == [("a" * 32, "ABC1234")]
    rows = client.query(f"SELECT read_id, crop_jpeg FROM {d}.read_images FINAL",
                        column_formats={"crop_jpeg": "bytes"}).result_rows
    assert rows == [("a" * 32, b"\xff\xd8\x00\x01jpeg")]
    assert client.query(f"SELECT plate, folded FROM {d}.plates FINAL").result_rows == [("ABC1234", "A8C1234")]
