"""Kafka messages the flow publishes: hits for dispatch and dead letters for bad input."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Producer, TopicPartition

from alpr.domain.types import Hit
from alpr.messages.kafka import MESSAGE_MAX_BYTES
from alpr.metrics import REPLAYS_SKIPPED
from alpr.worker_thread import pin_thread_state

# 1.1 adds the issuing states (read_state, read_state_confidence, read_state_candidates,
# list_state, state_match); a version-1 consumer may ignore them.
HIT_SCHEMA = "alpr.hit/1.1"


def hit_payload(hit: Hit, database: str, camera_name: str = "", api_url: str = "") -> dict:
    """The hit as the versioned JSON document in infra/schemas/hit.v1.json; ``api_url`` is where the
    API serves the crop (to a logged-on, permitted caller, audited)."""
    read = hit.read
    return {
        "schema": HIT_SCHEMA,
        "hit_id": hit.hit_id,
        "read_id": read.read_id,
        "plate": read.plate,
        "confidence": round(read.confidence, 4),
        "match": hit.match,
        "matched_plate": hit.matched_plate,
        "list_plate": hit.entry.plate,
        "camera_id": read.frame.camera_id,
        "camera_name": camera_name or read.frame.camera_id,
        "captured_at": read.frame.captured_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "location": {"latitude": read.frame.location.latitude, "longitude": read.frame.location.longitude},
        "list_name": hit.entry.list_name,
        "entry_id": hit.entry.entry_id,
        "entry_sealed": hit.entry.sealed,
        "read_state": read.state.state,
        "read_state_confidence": round(read.state.confidence, 4),
        "read_state_candidates": list(read.state.runners_up),
        "list_state": hit.entry.state,
        "state_match": hit.state_match,
        "crop_ref": f"clickhouse://{database}.read_images/{read.read_id}#crop_jpeg",
        **({"crop_url": f"{api_url.rstrip('/')}/v1/reads/{read.read_id}/crop.jpg"} if api_url else {}),
    }


def hit_message(hit: Hit, topic: str, database: str, camera_name: str = "",
                api_url: str = "") -> KafkaSinkMessage[bytes, bytes]:
    """Keyed by camera so one camera's hits stay in order."""
    return KafkaSinkMessage(
        key=hit.read.frame.camera_id.encode(),
        value=json.dumps(hit_payload(hit, database, camera_name, api_url), separators=(",", ":")).encode(),
        topic=topic,
        headers=[("schema", HIT_SCHEMA.encode()), ("hit_id", hit.hit_id.encode())],
    )


# Room left under the producer's message.max.bytes for librdkafka's per-message and per-header overhead.
SIZE_MARGIN = 16 * 1024


def message_size(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]]) -> int:
    """Bytes a message counts against message.max.bytes, give or take the margin."""
    return len(key or b"") + len(value or b"") + sum(len(k.encode()) + len(v or b"") for k, v in headers)


def dead_letter_message(
    msg: KafkaSourceMessage, topic: str, stage: str, reason: str, detail: str, max_bytes: int = MESSAGE_MAX_BYTES
) -> KafkaSinkMessage:
    """The original key, value and headers untouched, plus why and where it was rejected.

    A message too big for the producer (another producer allowed more) would fail the send and stop
    the flow on every restart: it goes without its payload, with its size in ``dlq_size``; and
    without its key and headers too if they alone are too big.
    """
    source = f"{msg.topic}/{msg.partition}/{msg.offset}"
    ours = [
        ("dlq_stage", stage.encode()),
        ("dlq_reason", reason.encode()),
        ("dlq_detail", detail[:1000].encode()),
        ("dlq_source", source.encode()),
    ]
    original = list(msg.headers or [])
    limit = max_bytes - SIZE_MARGIN
    if message_size(msg.key, msg.value, original + ours) <= limit:
        return KafkaSinkMessage(key=msg.key, value=msg.value, topic=topic, headers=original + ours)
    ours.append(("dlq_size", str(message_size(msg.key, msg.value, original)).encode()))
    if message_size(msg.key, None, original + ours) <= limit:
        return KafkaSinkMessage(key=msg.key, value=None, topic=topic, headers=original + ours)
    return KafkaSinkMessage(key=None, value=None, topic=topic, headers=ours)


def _header(msg: KafkaSinkMessage, name: str) -> bytes | None:
    return next((v for k, v in msg.headers or () if k == name), None)


def published_ids(consumer_config: dict, topic: str, header: str, lookback: timedelta) -> set[bytes]:
    """The id header of every message on the topic from ``lookback`` ago to its end."""
    c = Consumer({**consumer_config, "group.id": f"alpr-dedupe-{uuid.uuid4().hex}", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    try:
        meta = c.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or not meta.partitions:
            return set()
        since_ms = int((datetime.now(timezone.utc) - lookback).timestamp() * 1000)
        wanted = [TopicPartition(topic, p, since_ms) for p in meta.partitions]
        try:
            start = c.offsets_for_times(wanted, timeout=10)
        except KafkaException:  # a broker without time lookups: read the whole topic
            start = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
        start = [tp if tp.offset >= 0 else TopicPartition(topic, tp.partition, OFFSET_END) for tp in start]
        c.assign(start)
        ids, eof = set(), set()
        while len(eof) < len(start):
            m = c.poll(5)
            if m is None:
                break
            if m.error():
                eof.add(m.partition())
                continue
            value = next((v for k, v in m.headers() or () if k == header), None)
            if value:
                ids.add(value)
        return ids
    finally:
        c.close()


class _OncePartition(StatefulSinkPartition[KafkaSinkMessage, None]):
    """Hands messages to the producer without waiting; waits for every acknowledgement before the
    epoch's snapshot, so nothing the snapshot counts as sent is unacknowledged."""

    def __init__(self, producer: Producer, seen: dict[str, set[bytes]], id_headers: dict[str, str]):
        self.producer = producer
        self.seen = seen
        self.id_headers = id_headers
        self.failed: list[str] = []

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self.failed.append(f"{msg.topic()}: {err}")

    def write_batch(self, items: list[KafkaSinkMessage]) -> None:
        for m in items:
            header = self.id_headers.get(m.topic)
            key = _header(m, header) if header else None
            if key is not None and key in self.seen[m.topic]:
                REPLAYS_SKIPPED.labels(m.topic).inc()
                continue
            while True:
                try:
                    self.producer.produce(m.topic, value=m.value, key=m.key, headers=m.headers,
                                          on_delivery=self._delivered)
                    break
                except BufferError:  # the producer's queue is full: wait for the broker rather than fail
                    self.producer.poll(0.5)
            if key is not None:
                self.seen[m.topic].add(key)
        self.producer.poll(0)  # serve delivery reports; sending goes on in the background
        self._check()

    def _check(self) -> None:
        if self.failed:
            raise RuntimeError(f"Kafka refused {len(self.failed)} messages, first: {self.failed[0]}")  # replay resends

    def snapshot(self) -> None:
        if self.producer.flush(30):
            raise RuntimeError("Kafka did not acknowledge every message within 30 s")  # the run stops; replay resends
        self._check()

    def close(self) -> None:
        self.snapshot()


class ExactlyOnceKafkaSink(FixedPartitionedSink[KafkaSinkMessage, None]):
    """Kafka output that publishes each message once across crashes and replays.

    Bytewax resumes from its last snapshot and replays what came after it, so a restarted flow
    produces some messages again. When it is made, before the flow runs, this sink reads the recent
    messages of each topic and remembers their ids (``hit_id`` for hits, ``dlq_source`` for dead letters); it then skips any
    message whose id is already there. Every message is acknowledged before the next snapshot, so
    nothing acknowledged is lost and nothing is sent twice. Takes ``(key, message)`` pairs; one
    partition, as hits and dead letters are few.
    """

    def __init__(self, producer_config: dict, consumer_config: dict, id_headers: dict[str, str],
                 lookback: timedelta = timedelta(hours=1)):
        self.id_headers = id_headers
        # Done here, before the flow consumes, not when Bytewax builds the partition at the first hit,
        # which would wait the second this takes.
        self.seen = {t: published_ids(consumer_config, t, h, lookback) for t, h in id_headers.items()}
        self.producer = Producer(producer_config)
        for topic in id_headers:
            self.producer.list_topics(topic, timeout=10)

    def list_parts(self) -> list[str]:
        return ["kafka"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _OncePartition:
        pin_thread_state()
        return _OncePartition(self.producer, self.seen, self.id_headers)
