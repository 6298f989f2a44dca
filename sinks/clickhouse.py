"""Bytewax sink writing reads, their images and hits to ClickHouse, one insert per table and batch."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from clickhouse_connect.driver.client import Client

from alpr.domain import Hit, PlateRead
from alpr.metrics import CLICKHOUSE_BATCH_ROWS, CLICKHOUSE_ERRORS, CLICKHOUSE_ROWS, STAGE_SECONDS

X = TypeVar("X")


@dataclass(frozen=True)
class Table(Generic[X]):
    """How one kind of item becomes rows of one table."""

    name: str
    columns: list[str]
    row: Callable[[X], list]


def read_row(r: PlateRead) -> list:
    f = r.frame
    return [
        r.read_id, f.camera_id, f.captured_at, r.seen_ms, r.frames, r.plate, list(r.candidates), r.confidence,
        f.location.latitude, f.location.longitude, r.detector,
    ]


def image_row(r: PlateRead) -> list:
    return [r.read_id, r.frame.captured_at, r.frame.frame_id, r.box.x, r.box.y, r.box.w, r.box.h, r.crop_jpeg,
            r.scene_jpeg]


def hit_row(h: Hit) -> list:
    r = h.read
    return [h.hit_id, r.read_id, r.frame.camera_id, r.frame.captured_at, r.plate, h.matched_plate,
            h.entry.list_name, h.entry.entry_id, h.match]


READS = Table("reads", ["read_id", "camera_id", "captured_at", "seen_ms", "frames", "plate", "candidates",
                        "confidence", "latitude", "longitude", "detector"], read_row)
IMAGES = Table("read_images", ["read_id", "captured_at", "frame_id", "box_x", "box_y", "box_w", "box_h",
                               "crop_jpeg", "scene_jpeg"], image_row)
HITS = Table("hits", ["hit_id", "read_id", "camera_id", "captured_at", "plate", "matched_plate", "list_name",
                      "entry_id", "match_kind"], hit_row)


class _Partition(StatelessSinkPartition[X]):
    def __init__(self, client: Client, database: str, tables: Sequence[Table[X]]):
        self.client = client
        self.database = database
        self.tables = tables

    def write_batch(self, items: list[X]) -> None:
        if not items:
            return
        for table in self.tables:
            t0 = time.perf_counter()
            try:
                self.client.insert(f"{self.database}.{table.name}", [table.row(x) for x in items],
                                   column_names=table.columns)
            except Exception:
                CLICKHOUSE_ERRORS.labels(table.name).inc()
                raise  # stop rather than lose rows: a restart replays them and the tables deduplicate
            STAGE_SECONDS.labels("sink").observe(time.perf_counter() - t0)
            CLICKHOUSE_BATCH_ROWS.labels(table.name).observe(len(items))
            CLICKHOUSE_ROWS.labels(table.name).inc(len(items))


class ClickHouseSink(DynamicSink[X]):
    """Writes each batch to its tables in order (images before the reads that point at them).

    Idempotent in effect: every table replaces rows with the same id, so a replay after a crash
    changes nothing.
    """

    def __init__(self, connect: Callable[[], Client], database: str, tables: Sequence[Table[X]]):
        self.connect = connect
        self.database = database
        self.tables = tables

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition[X]:
        return _Partition(self.connect(), self.database, self.tables)
