"""The read flow's steps, each a plain function or Bytewax logic class that ``read_flow`` wires:
frame validation, reading, grouping reads into vehicle passes, the hot-list join and the messages
for dispatch and the dead-letter topic."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import redis
from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage
from bytewax.operators import StatefulBatchLogic

from alpr import metrics, retry
from alpr.config import Config, FlowConfig
from alpr.domain.dispositions import misread_key
from alpr.domain.grouping import CameraGroups
from alpr.domain.hits import apply_state_policy, best_matches
from alpr.domain.types import FrameMeta, Hit, Match, PlateRead, read_id_for
from alpr.hotlists.store import HotlistStore
from alpr.messages import frames
from alpr.worker_thread import pin_thread_state
from detectors.base import PlateReader
from sinks import images
from sinks.kafka import dead_letter_message, hit_message

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
    pin_thread_state()
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
    def read_plates(frame: Frame) -> list[PlateRead] | Rejected:  # on validate's thread, already pinned
        # from the camera's capture to this worker taking the frame: Kafka, the source's batch, the queue
        metrics.STAGE_SECONDS.labels("queued").observe(max(0.0, time.time() - frame.meta.captured_at.timestamp()))
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
                state=p.state,
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
        pin_thread_state()
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


def make_hit_message_step(cfg: Config) -> Callable[[Hit], KafkaSinkMessage]:
    """A hit as the dispatch message, counted and timed from its frame's capture."""

    def to_hit_message(hit: Hit) -> KafkaSinkMessage:
        metrics.HITS.labels(hit.entry.list_name, hit.match).inc()
        metrics.FRAME_TO_HIT.observe(max(0.0, time.time() - hit.read.frame.captured_at.timestamp()))
        return hit_message(hit, cfg.kafka.hits_topic, cfg.clickhouse.database,
                           cfg.dispatch.camera_name(hit.read.frame.camera_id), cfg.api.base_url())

    return to_hit_message


def make_state_policy_step(cfg: Config) -> Callable[[Hit], Hit]:
    """``hits.state_mismatch``: a hit whose read state surely differs from the listed one is marked
    suppressed in ``suppress`` mode (stored, not published), counted and logged."""
    mode, min_confidence = cfg.hits.state_mismatch, cfg.hits.state_min_confidence

    def state_policy(hit: Hit) -> Hit:
        hit = apply_state_policy(hit, mode, min_confidence)
        if hit.suppressed:
            metrics.HITS_STATE_SUPPRESSED.labels(hit.entry.list_name).inc()
            log.info("no hit to dispatch: %s read %s in %s (%.2f sure), %s/%s lists it in %s", hit.read.frame.camera_id,
                     hit.read.plate, hit.read.state.state, hit.read.state.confidence, hit.entry.list_name,
                     hit.entry.entry_id, hit.entry.state)
        return hit

    return state_policy


def make_dead_letter_step(cfg: Config) -> Callable[[Rejected], KafkaSinkMessage]:
    """A rejected message as its dead letter, counted by reason and logged."""

    def to_dead_letter(r: Rejected) -> KafkaSinkMessage:
        metrics.DEAD_LETTERS.labels(r.reason).inc()
        log.warning("dead letter from %s: %s: %s", r.stage, r.reason, r.detail)
        return dead_letter_message(r.msg, cfg.kafka.dead_letter_topic, r.stage, r.reason, r.detail)

    return to_dead_letter


def make_hotlist_join_step(store: HotlistStore) -> Callable[[list[tuple[str, PlateRead]]], list[tuple[PlateRead, Match]]]:
    """A batch of (pass id, lead read) joined with the hot lists in one Redis round trip."""

    def join_hotlists(batch: list[tuple[str, PlateRead]]) -> list[tuple[PlateRead, Match]]:
        pin_thread_state()
        t0 = time.perf_counter()
        plates = [p for _, r in batch for p in (r.plate, *r.candidates)]
        # while Redis is away this waits (hits are delayed, none dropped); a crash would not help
        found = retry.call(lambda: store.match(plates), "redis", REDIS_TRANSIENT)
        metrics.STAGE_SECONDS.labels("hotlist").observe(time.perf_counter() - t0)
        # a matching read takes its pass's id, which the hit refers to (most reads match nothing)
        matches = [(replace(r, read_id=pass_id), m) for pass_id, r in batch for m in best_matches(r, found)]
        return without_known_misreads(store.redis, matches) if matches else matches

    return join_hotlists


def without_known_misreads(r: redis.Redis, matches: list[tuple[PlateRead, Match]]) -> list[tuple[PlateRead, Match]]:
    """The matches whose (camera, read plate, list entry) dispatch has not marked a misread lately
    (``alpr.domain.dispositions.misread_key``); the others are counted and logged, not raised."""
    keys = [misread_key(read.frame.camera_id, read.plate, m.entry.list_name, m.entry.entry_id) for read, m in matches]

    def lookup() -> list[int]:
        pipe = r.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        return pipe.execute()

    kept = []
    for (read, m), seen in zip(matches, retry.call(lookup, "redis", REDIS_TRANSIENT)):
        if seen:
            metrics.KNOWN_MISREADS.labels(m.entry.list_name).inc()
            log.info("no hit: %s read %s as %s/%s, which dispatch marked a misread", read.frame.camera_id, read.plate,
                     m.entry.list_name, m.entry.entry_id)
        else:
            kept.append((read, m))
    return kept
