"""Bytewax sink writing plate reads to ClickHouse, one insert per batch."""

from __future__ import annotations

import time
from typing import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from clickhouse_connect.driver.client import Client

from alpr.domain import PlateRead
from alpr.metrics import CLICKHOUSE_BATCH_ROWS, CLICKHOUSE_ERRORS, CLICKHOUSE_ROWS, STAGE_SECONDS

READ_COLUMNS = [
    "read_id", "frame_id", "camera_id", "captured_at", "plate", "confidence", "latitude", "longitude",
    "box_x", "box_y", "box_w", "box_h", "detector", "crop_jpeg",
]


def read_row(r: PlateRead) -> list:
    f = r.frame
    return [
        r.read_id, f.frame_id, f.camera_id, f.captured_at, r.plate, r.confidence, f.location.latitude,
        f.location.longitude, r.box.x, r.box.y, r.box.w, r.box.h, r.detector, r.crop_jpeg,
    ]


class _ReadsPartition(StatelessSinkPartition[PlateRead]):
    def __init__(self, client: Client, table: str):
        self.client = client
        self.table = table

    def write_batch(self, items: list[PlateRead]) -> None:
        if not items:
            return
        t0 = time.perf_counter()
        try:
            self.client.insert(self.table, [read_row(r) for r in items], column_names=READ_COLUMNS)
        except Exception:
            CLICKHOUSE_ERRORS.labels("reads").inc()
            raise  # stop rather than lose reads: a restart replays them and the table deduplicates
        STAGE_SECONDS.labels("sink").observe(time.perf_counter() - t0)
        CLICKHOUSE_BATCH_ROWS.labels("reads").observe(len(items))
        CLICKHOUSE_ROWS.labels("reads").inc(len(items))


class ReadsSink(DynamicSink[PlateRead]):
    """Inserts are idempotent in effect: the table replaces rows with the same read_id."""

    def __init__(self, connect: Callable[[], Client], database: str):
        self.connect = connect
        self.table = f"{database}.reads"

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ReadsPartition:
        return _ReadsPartition(self.connect(), self.table)
