"""The read flow: camera frames in, plate reads to ClickHouse, hot-list hits to dispatch.

    frames topic -> validate -> read plates -> group per camera --(pass closed)--> reads table (ClickHouse)
                       |            |              |
                       |            |              +--(each read, at once)--> hot-list join (Redis)
                       |            |                                          -> first hit per pass -> hits topic
                       +------------+-> dead-letter topic (original message + reason)

A hit goes out on the first read that matches, without waiting for the vehicle's pass to end; the
pass is stored once, when it closes (see ``alpr.domain.grouping``).

Run it with ``alpr run`` (or Bytewax's own runner on ``build_from_env``); Kafka partitions (one
camera each, by key) are spread over the workers.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import bytewax.operators as op
import cv2
import redis
from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import StatefulBatchLogic
from prometheus_client import start_http_server

from alpr import config as config_mod
from alpr import metrics, retry
from alpr.config import Config, FlowConfig
from alpr.domain.grouping import CameraGroups
from alpr.domain.hits import best_matches, hit_key, suppress_repeats
from alpr.domain.types import FrameMeta, Hit, Match, PlateRead, read_id_for
from alpr.hotlists.store import HotlistStore
from alpr.messages import frames, kafka
from alpr.store import db
from detectors.base import PlateReader
from detectors.registry import make_reader
from sinks import images
from sinks.clickhouse import HITS, IMAGES, READS, ClickHouseSink
from sinks.kafka import ExactlyOnceKafkaSink, dead_letter_message, hit_message

log = logging.getLogger(__name__)

GROUPING_SECONDS = metrics.STAGE_SECONDS.labels("grouping")
# Redis errors worth waiting out (BusyLoadingError, a restarted Redis loading its dump, is one of them).
REDIS_TRANSIENT = (redis.ConnectionError, redis.TimeoutError)


@dataclass(frozen=True)
class Rejected:
    """A message the flow cannot use, kept whole for the dead-letter topic."""

    msg: KafkaSourceMessage
    stage: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Grouped:
    """What one camera's batch of reads gave: leads for the hot-list join, passes to store."""

    leads: list[tuple[str, PlateRead]]  # (pass id, read)
    passes: list[PlateRead]


@dataclass(frozen=True)
class Frame:
    msg: KafkaSourceMessage
    meta: FrameMeta
    jpeg: bytes


def validate(msg: KafkaSourceMessage) -> Frame | Rejected:
    """Never raises: a message that made this step crash would crash it again after every restart."""
    try:
        meta, jpeg = frames.parse(msg.key, msg.value, msg.headers)
    except frames.FrameError as exc:
        return Rejected(msg, "validate", exc.reason, exc.detail)
    except Exception as exc:  # a check that missed a case: dead-letter the message, keep the flow
        log.exception("frame validation failed unexpectedly at %s/%s/%s", msg.topic, msg.partition, msg.offset)
        return Rejected(msg, "validate", "invalid", retry.brief(exc))
    metrics.LAST_FRAME.labels(meta.camera_id).set(meta.captured_at.timestamp())
    return Frame(msg, meta, jpeg)


def make_read_step(reader: PlateReader):
    def read_plates(frame: Frame) -> list[PlateRead] | Rejected:
        t0 = time.perf_counter()
        try:
            image = frames.decode_image(frame.jpeg)
        except frames.FrameError as exc:
            return Rejected(frame.msg, "decode", exc.reason, exc.detail)
        t1 = time.perf_counter()
        try:
            result = reader.read(image)
        except Exception as exc:  # a reader bug must not stop every camera
            log.exception("reader failed on frame %s", frame.meta.frame_id)
            return Rejected(frame.msg, "read", "reader_error", f"{type(exc).__name__}: {exc}")
        metrics.STAGE_SECONDS.labels("decode").observe(t1 - t0)
        metrics.STAGE_SECONDS.labels("detect").observe(result.timings_ms.get("detect", 0) / 1000)
        metrics.STAGE_SECONDS.labels("ocr").observe(result.timings_ms.get("ocr", 0) / 1000)
        scene_jpeg = images.scene(image) if result.plates else b""
        reads = [
            PlateRead(
                read_id=read_id_for(frame.meta.frame_id, i),
                frame=frame.meta,
                plate=p.plate,
                confidence=p.confidence,
                box=p.box,
                crop_jpeg=images.plate_crop(image, p.box),
                detector=reader.name,
                candidates=p.candidates,
                scene_jpeg=scene_jpeg,
            )
            for i, p in enumerate(result.plates)
        ]
        metrics.FRAMES.labels(frame.meta.camera_id).inc()
        metrics.PLATES_READ.labels(frame.meta.camera_id).inc(len(reads))
        return reads

    return read_plates


class GroupReads(StatefulBatchLogic):
    """One camera's open vehicle passes (``alpr.domain.grouping.CameraGroups``) as a Bytewax stateful step.

    For each batch of the camera's reads, emits one ``Grouped``: the reads confident enough to be
    leads, each with its pass id (a hit refers to the pass), and the passes that closed: on the
    camera's event time, after ``flow.group_idle_s`` of wall-clock silence from the camera, or at the
    end of the stream. The state is snapshotted for recovery, so a restart resumes the same passes
    with the same ids.
    """

    def __init__(self, state: CameraGroups | None, cfg: FlowConfig):
        self.state = state or CameraGroups(timedelta(0), timedelta(0))
        # a resumed camera takes the configuration of this run, not of the run that snapshotted it
        self.state.gap, self.state.lateness = timedelta(seconds=cfg.group_gap_s), timedelta(seconds=cfg.group_lateness_s)
        self.state.min_confidence = cfg.pass_min_confidence
        self.quiet = timedelta(seconds=cfg.group_idle_s)
        self.deadline = datetime.now(timezone.utc) + self.quiet if self.state.groups else None

    def _grouped(self, leads: list[tuple[str, PlateRead]], closed: list[PlateRead], dropped: int) -> list[Grouped]:
        for g in closed:
            metrics.GROUP_FRAMES.observe(g.frames)
        if closed:
            metrics.GROUPS.labels(self.state.camera_id).inc(len(closed))
        if dropped:
            metrics.PASSES_DROPPED.labels(self.state.camera_id).inc(dropped)
        return [Grouped(leads, closed)] if leads or closed else []

    def on_batch(self, reads: list[PlateRead]) -> tuple[list[Grouped], bool]:
        t0 = time.perf_counter()
        leads, passes, dropped = [], [], 0
        for read in reads:
            group_id, closed, n = self.state.add(read)
            if self.state.is_lead(read):
                leads.append((group_id, read))
            passes += closed
            dropped += n
        self.deadline = datetime.now(timezone.utc) + self.quiet
        out = self._grouped(leads, passes, dropped)
        GROUPING_SECONDS.observe(time.perf_counter() - t0)  # what each read of the batch waited
        return out, StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list[Grouped], bool]:
        return self._grouped([], *self.state.close_all()), StatefulBatchLogic.DISCARD

    def on_eof(self) -> tuple[list[Grouped], bool]:
        return self._grouped([], *self.state.close_all()), StatefulBatchLogic.DISCARD

    def notify_at(self) -> datetime | None:
        return self.deadline

    def snapshot(self) -> CameraGroups:
        return copy.deepcopy(self.state)


def build(cfg: Config, *, tail: bool = True, reader: PlateReader | None = None) -> Dataflow:
    """The dataflow, wired and not yet run (``set_up`` readies topics and tables); ``tail=False``
    stops at the end of the frames topic (tests, backfills)."""
    reader = reader or make_reader(cfg)
    log.info("reader %s, recognizers %s, on %s in %s", reader.detector_name, reader.ocr_name, reader.runtime,
             reader.precision)
    store = HotlistStore(redis.Redis.from_url(cfg.redis.url))
    brokers = cfg.kafka.bootstrap_servers.split(",")
    kcfg = cfg.kafka.client_config()
    kcfg.pop("bootstrap.servers")

    flow = Dataflow("alpr_read")
    # Small batches: reading a frame takes tens to hundreds of ms, and a Bytewax epoch (a snapshot)
    # can only close once every frame of the batches it took is done.
    source = kafka.CheckedKafkaSource(brokers, [cfg.kafka.frames_topic], tail=tail, add_config=kcfg,
                                      batch_size=cfg.flow.source_batch_size, raise_on_errors=False)
    src = kafka.checked_input("frames_in", flow, source)
    kafka_errors = op.map(
        "kafka_errors", src.errs, lambda e: Rejected(e.msg, "consume", "kafka_error", str(e.err))
    )

    checked = op.branch("is_valid", op.map("validate", src.oks, validate), lambda x: isinstance(x, Frame))
    read = op.branch("read_ok", op.map("read_plates", checked.trues, make_read_step(reader)), lambda x: isinstance(x, list))
    hits = after_ocr(cfg, op.flatten("reads", read.trues), store)

    def to_hit_message(hit) -> KafkaSinkMessage:
        metrics.HITS.labels(hit.entry.list_name, hit.match).inc()
        metrics.FRAME_TO_HIT.observe(max(0.0, time.time() - hit.read.frame.captured_at.timestamp()))
        return hit_message(hit, cfg.kafka.hits_topic, cfg.clickhouse.database)

    def to_dead_letter(r: Rejected) -> KafkaSinkMessage:
        metrics.DEAD_LETTERS.labels(r.reason).inc()
        log.warning("dead letter from %s: %s: %s", r.stage, r.reason, r.detail)
        return dead_letter_message(r.msg, cfg.kafka.dead_letter_topic, r.stage, r.reason, r.detail)

    rejected = op.merge("rejected", kafka_errors, checked.falses, read.falses)
    out = op.merge("to_kafka", op.map("hit_messages", hits, to_hit_message), op.map("dead_letters", rejected, to_dead_letter))
    ids = {cfg.kafka.hits_topic: "hit_id", cfg.kafka.dead_letter_topic: "dlq_source"}
    op.output("kafka_out", op.key_on("one_producer", out, lambda _: "kafka"),
              ExactlyOnceKafkaSink(kafka.producer_config(cfg), cfg.kafka.client_config(), ids))
    return flow


def after_ocr(cfg: Config, reads: Stream[PlateRead], store: HotlistStore) -> Stream[Hit]:
    """Everything after OCR: passes to ClickHouse when they close; every read at once through the
    hot-list join and first-hit-per-pass; returns the hits (also stored in ClickHouse)."""
    by_camera = op.key_on("by_camera", reads, lambda r: r.frame.camera_id)
    grouped = op.map("unkey", op.stateful_batch("group_reads", by_camera, lambda state: GroupReads(state, cfg.flow)),
                     lambda kv: kv[1])
    # Passes are written in batches of up to 1000 or every 0.5 s: every ClickHouse insert makes a
    # part, so few large inserts beat many small ones (hits do not wait for this).
    passes = op.flat_map("passes", grouped, lambda g: g.passes)
    batched = op.collect("batch_passes", op.key_on("one_key", passes, lambda _: "passes"),
                         timeout=timedelta(milliseconds=500), max_size=1000)
    leads = op.flat_map("leads", grouped, lambda g: g.leads)
    connect = lambda: db.connect(cfg)  # noqa: E731 - the sink partition opens its own client
    op.output("passes_to_clickhouse", batched, ClickHouseSink(connect, cfg.clickhouse.database, [IMAGES, READS]))

    def join_hotlists(batch: list[tuple[str, PlateRead]]) -> list[tuple[PlateRead, Match]]:
        t0 = time.perf_counter()
        plates = [p for _, r in batch for p in (r.plate, *r.candidates)]
        # while Redis is away this waits (hits are delayed, none dropped); a crash would not help
        found = retry.call(lambda: store.match(plates), "redis", REDIS_TRANSIENT)
        metrics.STAGE_SECONDS.labels("hotlist").observe(time.perf_counter() - t0)
        # a matching read takes its pass's id, which the hit refers to (most reads match nothing)
        return [(replace(r, read_id=pass_id), m) for pass_id, r in batch for m in best_matches(r, found)]

    matches = op.flat_map_batch("hotlist_join", leads, join_hotlists)
    keyed = op.key_on("by_hit_key", matches, lambda m: hit_key(*m))
    window = cfg.flow.hit_suppression_s
    hits = op.stateful_flat_map("first_hit_per_pass", keyed, lambda last, m: suppress_repeats(last, m, window))

    hits = op.map("hit_values", hits, lambda kv: kv[1])
    # stored in batches like passes; publishing to dispatch (the caller) does not wait for this
    stored = op.collect("batch_hits", op.key_on("one_hit_key", hits, lambda h: "hits"),
                        timeout=timedelta(milliseconds=500), max_size=1000)
    op.output("hits_to_clickhouse", stored, ClickHouseSink(connect, cfg.clickhouse.database, [HITS]))
    return hits


def set_up(cfg: Config) -> None:
    """Create missing topics and apply pending schema migrations (both idempotent), so a fresh
    deployment needs no separate step before its first run."""
    kafka.ensure_topics(cfg)
    db.migrate(db.connect(cfg), cfg)


def prepared(cfg: Config) -> Dataflow:
    """The flow of a process about to run it: OpenCV's threads capped, metrics served, Kafka waited
    for, topics and tables set up."""
    # OpenCV's own thread pool (decode, resize) would otherwise use every core in every process;
    # scale out with processes, each as wide as its OCR
    cv2.setNumThreads(cfg.reader.intra_op_threads)
    start_http_server(cfg.flow.metrics_port, addr=cfg.flow.metrics_host)
    retry.wait_until(lambda: kafka.broker_ready(cfg), "Kafka", cfg.kafka.bootstrap_servers)
    set_up(cfg)
    return build(cfg, tail=cfg.flow.tail)


def build_from_env() -> Dataflow:
    """Entry point for ``python -m bytewax.run``: configuration from ALPR_CONFIG and ALPR_* variables."""
    logging.basicConfig(level=os.environ.get("ALPR_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return prepared(config_mod.load())
