"""The dispatch console's live feed: hits and workflow steps from Kafka, held for open consoles.

One consumer thread per API process reads the hit and hit-step topics from
``dispatch.console_lookback_h`` ago and appends each message, in arrival order, to a bounded buffer;
every console stream takes what came after its cursor. The cursor is the next offset of each topic
partition, not a counter of this process, so a browser that reconnects, even to a restarted or
another API process, resumes where it left off and misses nothing the topics still hold.

The feed also knows which hits nobody has taken a step on yet: the console highlights them and
Prometheus alerts on the oldest (``alpr_hit_oldest_untaken_seconds``).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from alpr.config import Config
from alpr.metrics import HIT_OLDEST_UNTAKEN, HITS_UNTAKEN
from alpr.retry import brief

log = logging.getLogger(__name__)

HIT, STEP = "hit", "step"
MAX_EVENTS = 50_000  # about 50 MB of hits at most; a day of a city's hits is a few thousand


@dataclass(frozen=True)
class FeedEvent:
    seq: int  # arrival order in this process
    kind: str  # hit | step
    source: str  # topic kind and partition: h0, s0
    offset: int
    published_ms: int  # the Kafka timestamp: when the flow (or the API, for a step) published it
    data: dict


Cursor = dict[str, int]  # source -> the next offset to send


def parse_cursor(text: str) -> Cursor:
    """``h0:13,s0:4`` as a cursor; anything unreadable counts as no position (send everything held)."""
    out: Cursor = {}
    for item in text.split(","):
        source, _, offset = item.strip().partition(":")
        if source[:1] in ("h", "s") and source[1:].isdigit() and offset.isdigit() and len(item) < 40:
            out[source] = int(offset)
    return out


def format_cursor(cursor: Cursor) -> str:
    return ",".join(f"{s}:{o}" for s, o in sorted(cursor.items()))


def is_new(cursor: Cursor, event: FeedEvent) -> bool:
    return event.offset >= cursor.get(event.source, 0)


def advanced(cursor: Cursor, event: FeedEvent) -> Cursor:
    return {**cursor, event.source: max(cursor.get(event.source, 0), event.offset + 1)}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def hit_row(event: FeedEvent) -> dict:
    """A hit message as the row ``alpr.store.dispositions`` reads from the hits table, for a hit the
    ClickHouse sink has not written yet."""
    message = event.data
    return {"hit_id": message["hit_id"], "read_id": message["read_id"], "camera_id": message["camera_id"],
            "captured_at": _utc(message["captured_at"]),
            "plate": message["plate"], "matched_plate": message["matched_plate"],
            "list_plate": message.get("list_plate", ""), "list_name": message["list_name"],
            "entry_id": message["entry_id"], "match_kind": message["match"],
            "read_state": message.get("read_state", ""), "state_confidence": message.get("read_state_confidence", 0.0),
            "list_state": message.get("list_state", ""), "state_match": message.get("state_match", "unknown"),
            "published_at": datetime.fromtimestamp(event.published_ms / 1000, timezone.utc)}


class HitFeed:
    """Reads the hit and step topics on a thread; ``since`` and ``after`` hand events to streams."""

    def __init__(self, cfg: Config, max_events: int = MAX_EVENTS):
        self.cfg = cfg
        self.lookback_s = cfg.dispatch.console_lookback_h * 3600
        self.topics = {"h": cfg.kafka.hits_topic, "s": cfg.kafka.hit_steps_topic}
        self.events: deque[FeedEvent] = deque(maxlen=max_events)
        self.hits: dict[str, FeedEvent] = {}
        self.untaken: dict[str, int] = {}  # hit_id -> published_ms, until its first step
        self.taken: set[str] = set()  # hits with a step (the two topics are read side by side)
        self.pending_eof: set[tuple[str, int]] = set()
        self.viewed: set[str] = set()
        self.lock = threading.Lock()
        self.ready = threading.Event()  # set once the lookback is read
        self.stopping = threading.Event()
        self.seq = 0
        self.thread = threading.Thread(target=self._run, name="hit-feed", daemon=True)
        HITS_UNTAKEN.set_function(lambda: len(self.untaken))
        HIT_OLDEST_UNTAKEN.set_function(self.oldest_untaken_s)

    def start(self) -> "HitFeed":
        self.thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(10)

    # -- reading ------------------------------------------------------------------------------------
    def since(self, cursor: Cursor) -> list[FeedEvent]:
        """Every held event the cursor has not passed, in arrival order."""
        with self.lock:
            return [e for e in self.events if is_new(cursor, e)]

    def after(self, seq: int) -> list[FeedEvent]:
        """The events that arrived after ``seq`` (a stream's last), in order."""
        with self.lock:
            if not self.events or self.events[-1].seq <= seq:
                return []
            return list(itertools.takewhile(lambda e: e.seq > seq, reversed(self.events)))[::-1]

    def last_seq(self) -> int:
        with self.lock:
            return self.seq

    def hit(self, hit_id: str) -> dict | None:
        """The hit's message, while the feed holds it."""
        with self.lock:
            event = self.hits.get(hit_id)
        return event.data if event else None

    def hit_row(self, hit_id: str) -> dict | None:
        """The hit as a hits-table row, while the feed holds it (the sink may not have written it yet)."""
        with self.lock:
            event = self.hits.get(hit_id)
        return hit_row(event) if event else None

    def published_ms(self, hit_id: str) -> int | None:
        with self.lock:
            event = self.hits.get(hit_id)
        return event.published_ms if event else None

    def first_view(self, hit_id: str) -> float | None:
        """Seconds from the hit's publication to now, the first time a console reports showing it."""
        with self.lock:
            event = self.hits.get(hit_id)
            if event is None or hit_id in self.viewed:
                return None
            self.viewed.add(hit_id)
        return max(0.0, time.time() - event.published_ms / 1000)

    def oldest_untaken_s(self) -> float:
        with self.lock:
            oldest = min(self.untaken.values(), default=None)
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)

    # -- the consumer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopping.is_set():
            consumer = None
            try:
                consumer = self._assign()
                self._consume(consumer)
            except KafkaException as exc:
                log.warning("hit feed: Kafka unavailable (%s); retrying in 5 s", brief(exc))
                self.stopping.wait(5)
            finally:
                if consumer is not None:
                    consumer.close()

    def _assign(self) -> Consumer:
        c = Consumer({**self.cfg.kafka.client_config(), "group.id": "alpr-console-feed", "enable.auto.commit": False,
                      "enable.partition.eof": True, "fetch.wait.max.ms": 10})
        since_ms = int((time.time() - self.lookback_s) * 1000)
        with self.lock:
            resume = {e.source: e.offset + 1 for e in self.events}  # after a reconnect: where the buffer ends
        wanted = []
        for topic in self.topics.values():
            meta = c.list_topics(topic, timeout=10).topics.get(topic)
            for p in sorted(meta.partitions if meta and not meta.error else ()):
                wanted.append(TopicPartition(topic, p, since_ms))
        try:
            start = c.offsets_for_times(wanted, timeout=10) if wanted else []
        except KafkaException:  # a broker without time lookups: the whole topics, trimmed on arrival
            start = [TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in wanted]
        positions = []
        for tp in start:
            source = f"{'h' if tp.topic == self.topics['h'] else 's'}{tp.partition}"
            offset = resume.get(source, tp.offset if tp.offset >= 0 or tp.offset == OFFSET_BEGINNING else OFFSET_END)
            positions.append(TopicPartition(tp.topic, tp.partition, offset))
        c.assign(positions)
        self.pending_eof = {(tp.topic, tp.partition) for tp in positions}
        if not positions:
            raise KafkaException(f"topics {', '.join(self.topics.values())} have no partitions yet")
        return c

    def _consume(self, c: Consumer) -> None:
        while not self.stopping.is_set():
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:  # caught up with this partition
                    self.pending_eof.discard((m.topic(), m.partition()))
                    if not self.pending_eof:
                        self.ready.set()
                    continue
                raise KafkaException(m.error())
            self._add(m)

    def _add(self, m) -> None:
        try:
            data = json.loads(m.value())
            hit_id = str(data["hit_id"])
        except (ValueError, TypeError, KeyError):
            log.warning("hit feed: skipped an unreadable message at %s/%d/%d", m.topic(), m.partition(), m.offset())
            return
        kind = HIT if m.topic() == self.topics["h"] else STEP
        published_ms = m.timestamp()[1]
        with self.lock:
            self.seq += 1
            event = FeedEvent(self.seq, kind, f"{kind[0]}{m.partition()}", m.offset(), published_ms, data)
            if len(self.events) == self.events.maxlen:
                self._forget(self.events[0])
            self.events.append(event)
            if kind == HIT:
                self.hits[hit_id] = event
                if hit_id not in self.taken:
                    self.untaken[hit_id] = published_ms
            else:
                self.taken.add(hit_id)
                self.untaken.pop(hit_id, None)
            cutoff = (time.time() - self.lookback_s) * 1000
            while self.events and self.events[0].published_ms < cutoff:
                self._forget(self.events.popleft())

    def _forget(self, event: FeedEvent) -> None:
        hit_id = event.data["hit_id"]
        if event.kind == HIT and self.hits.get(hit_id) is event:
            del self.hits[hit_id]
            self.untaken.pop(hit_id, None)
            self.viewed.discard(hit_id)
            self.taken.discard(hit_id)
