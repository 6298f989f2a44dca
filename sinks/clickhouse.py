"""Bytewax sink writing reads, their images and hits to ClickHouse, one insert per table and batch."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Callable, Generic, Sequence, TypeVar

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from alpr import retry
from alpr.domain.types import Hit, PlateRead
from alpr.metrics import CLICKHOUSE_BATCH_ROWS, CLICKHOUSE_ERRORS, CLICKHOUSE_ROWS, STAGE_SECONDS
from alpr.worker_thread import pin_thread_state

X = TypeVar("X")

# Errors of an unreachable or restarting server, waited out; any other error (a bad row, a missing
# table) stops the flow as before.
TRANSIENT = (OperationalError, OSError)


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
        r.state.state, r.state.confidence, list(r.state.runners_up), f.location.latitude, f.location.longitude, r.detector,
    ]


def image_row(r: PlateRead) -> list:
    return [r.read_id, r.frame.captured_at, r.frame.frame_id, r.box.x, r.box.y, r.box.w, r.box.h, r.crop_jpeg,
            r.scene_jpeg]


def hit_row(h: Hit) -> list:
    r = h.read
    return [h.hit_id, r.read_id, r.frame.camera_id, r.frame.captured_at, r.plate, h.matched_plate, h.entry.plate,
            h.entry.list_name, h.entry.entry_id, h.match, r.state.state, r.state.confidence, h.entry.state, h.state_match,
            int(h.suppressed)]


READS = Table("reads", ["read_id", "camera_id", "captured_at", "seen_ms", "frames", "plate", "candidates",
                        "confidence", "plate_state", "state_confidence", "state_candidates", "latitude", "longitude",
                        "detector"], read_row)
IMAGES = Table("read_images", ["read_id", "captured_at", "frame_id", "box_x", "box_y", "box_w", "box_h",
                               "crop_jpeg", "scene_jpeg"], image_row)
HITS = Table("hits", ["hit_id", "read_id", "camera_id", "captured_at", "plate", "matched_plate", "list_plate", "list_name",
                      "entry_id", "match_kind", "read_state", "state_confidence", "list_state", "state_match", "suppressed"],
             hit_row)


class _Partition(StatefulSinkPartition[list[X], None]):
    """Inserts on its own thread (the driver leaves the GIL while ClickHouse works), one insert in
    flight at a time; every insert has finished before the epoch's snapshot, so a crash never
    loses a batch that Bytewax counts as written."""

    def __init__(self, client: Client, database: str, tables: Sequence[Table[X]]):
        self.client = client
        self.database = database
        self.tables = tables
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-insert")
        self.pending: Future | None = None

    def write_batch(self, batches: list[list[X]]) -> None:
        items = [x for batch in batches for x in batch]
        if items:
            self._wait()
            self.pending = self.writer.submit(self._insert, items)

    def _insert(self, items: list[X]) -> None:
        for table in self.tables:
            rows = [table.row(x) for x in items]
            t0 = time.perf_counter()
            # Never drops the batch: waits while the server is away (the next snapshot waits too);
            # on any other error stops the flow, and a restart replays the rows (tables deduplicate).
            retry.call(partial(self._insert_rows, table, rows), "clickhouse", TRANSIENT)
            STAGE_SECONDS.labels("sink").observe(time.perf_counter() - t0)
            CLICKHOUSE_BATCH_ROWS.labels(table.name).observe(len(items))
            CLICKHOUSE_ROWS.labels(table.name).inc(len(items))

    def _insert_rows(self, table: Table[X], rows: list[list]) -> None:
        try:
            self.client.insert(f"{self.database}.{table.name}", rows, column_names=table.columns)
        except Exception:
            CLICKHOUSE_ERRORS.labels(table.name).inc()
            raise

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()  # re-raises an insert's error here, which stops the flow

    def snapshot(self) -> None:
        self._wait()

    def close(self) -> None:
        self._wait()
        self.writer.shutdown()


class ClickHouseSink(FixedPartitionedSink[list[X], None]):
    """Writes batches of items, ``(key, [item, ...])`` as ``op.collect`` makes them, to their tables
    in order (images before the reads that point at them).

    One partition: ClickHouse wants few large inserts. Idempotent in effect: every table replaces
    rows with the same id, so a replay after a crash changes nothing.
    """

    def __init__(self, client: Client, database: str, tables: Sequence[Table[X]]):
        self.client = client  # made with the flow, so no first batch waits for a connection
        self.database = database
        self.tables = tables

    def list_parts(self) -> list[str]:
        return ["clickhouse"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Partition[X]:
        pin_thread_state()
        return _Partition(self.client, self.database, self.tables)
