"""Kafka topics and producers shared by the simulator, ingest and the flow."""

from __future__ import annotations

import logging

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage, _KafkaSourcePartition
from bytewax.connectors.kafka.operators import KafkaOpOut
from bytewax.dataflow import Dataflow, operator
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from alpr.config import Config
from alpr.metrics import RESUME_RESETS

log = logging.getLogger(__name__)

MESSAGE_MAX_BYTES = 8 * 1024 * 1024  # the producers' message.max.bytes: a frame is far smaller
PROBE_TIMEOUT_S = 3.0  # a broker holding a record answers a read of it in milliseconds


def producer_config(cfg: Config) -> dict[str, object]:
    """Idempotent, acknowledged writes: a retried send is never stored twice."""
    return {
        **cfg.kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.max.bytes": MESSAGE_MAX_BYTES,
    }


def producer(cfg: Config) -> Producer:
    return Producer(producer_config(cfg))


def ensure_topics(cfg: Config, timeout_s: float = 10.0) -> None:
    """Create the frames (partitioned by camera), hits, dead-letter and hit-step topics if they are missing."""
    if not broker_ready(cfg, timeout_s):  # quietly: librdkafka would log every refused connection
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, f"no broker answered within {timeout_s:g} s"))
    admin = AdminClient(cfg.kafka.client_config())
    wanted = {
        cfg.kafka.frames_topic: cfg.kafka.frames_partitions,
        cfg.kafka.hits_topic: 1,
        cfg.kafka.dead_letter_topic: 1,
        cfg.kafka.hit_steps_topic: 1,
    }
    existing = admin.list_topics(timeout=timeout_s).topics
    new = [NewTopic(t, num_partitions=n, replication_factor=1) for t, n in wanted.items() if t not in existing]
    if not new:
        return
    for future in admin.create_topics(new, request_timeout=timeout_s).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: another process won the race
                raise


def broker_ready(cfg: Config, timeout_s: float = 2.0) -> bool:
    """True when the cluster answers a metadata request."""
    try:
        # log_level 0: a refused connection is the expected answer while a broker starts.
        AdminClient({**cfg.kafka.client_config(), "log_level": 0}).list_topics(timeout=timeout_s)
        return True
    except KafkaException:
        return False


def record_timestamp(consumer_config: dict, topic: str, partition: int, offset: int,
                     timeout_s: float = PROBE_TIMEOUT_S) -> int | None:
    """The timestamp (ms) of the record at ``offset``, or None when the broker does not hold it.

    Past the end of its log tansu answers nothing at all, so no record within ``timeout_s``
    counts as not held (a held record comes back in milliseconds).
    """
    c = Consumer({**consumer_config, "group.id": "alpr-offset-probe", "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "error", "fetch.wait.max.ms": 10,
                  "log_level": 0})
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        msg = c.poll(timeout_s)
        if msg is None or msg.error() is not None or msg.offset() != offset:
            return None
        return msg.timestamp()[1]
    finally:
        c.close()


def checked_resume(consumer_config: dict, topic: str, partition: int, resume: int, last_ts: int | None = None) -> int:
    """The offset to resume a partition from: ``resume`` while the broker still holds the log the
    snapshot was taken on, else the start of the log it holds now.

    A broker that lost its log (tansu keeps it in memory only), or a topic recreated since the
    snapshot, leaves ``resume`` past the new end, where the consumer would jump to the end and skip
    every frame sent since; or, once enough new frames came, inside a different log. So the record
    before ``resume`` must still be there, with the timestamp (``last_ts``) the snapshot saw.
    tansu's high watermark counts record batches, not records, so it cannot settle this alone.
    """
    if resume <= 0:  # the start, or a logical offset (OFFSET_BEGINNING, ...): nothing to check
        return resume
    c = Consumer({**consumer_config, "group.id": "alpr-offset-probe", "log_level": 0})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()
    if resume < low:
        why = f"the broker's log now starts at {low}"
    elif last_ts is None and resume <= high:  # a snapshot from before timestamps were kept
        return resume
    else:
        held = record_timestamp(consumer_config, topic, partition, resume - 1)
        if held is not None and last_ts in (None, held):
            return resume
        why = ("the broker no longer holds it" if held is None else "the broker holds a different record before it") + \
            " (restarted without its log, or the topic was recreated)"
    log.warning("%s partition %d: resume offset %d is gone: %s; reading the partition from offset %d",
                topic, partition, resume, why, low)
    RESUME_RESETS.labels(topic).inc()
    return low


class _CheckedPartition(_KafkaSourcePartition):
    """Snapshots the timestamp of the last record read beside the offset, for ``checked_resume``."""

    def __init__(self, *args, last_ts: int | None):
        super().__init__(*args)
        self._last_ts = last_ts

    def next_batch(self) -> list:
        batch = super().next_batch()
        if batch:
            last = batch[-1]
            msg = last if isinstance(last, KafkaSourceMessage) else last.msg
            self._last_ts = msg.timestamp[1] if msg.timestamp else None
        return batch

    def snapshot(self) -> tuple[int, int | None]:
        return self._offset, self._last_ts


class CheckedKafkaSource(KafkaSource):
    """Bytewax's KafkaSource, resuming each partition from an offset of the log the broker holds
    (``checked_resume``). Its snapshot is ``(offset, timestamp of the record before it)``; a bare
    offset, from a snapshot of Bytewax's own source, resumes too."""

    def build_part(self, step_id: str, for_part: str, resume_state: tuple[int, int | None] | int | None):
        offset, last_ts = resume_state if isinstance(resume_state, tuple) else (resume_state, None)
        idx, topic = for_part.split("-", 1)
        if topic not in self._topics:
            raise ValueError(f"can't resume from a different set of Kafka topics: {topic!r}")
        if offset is not None:
            config = {"bootstrap.servers": ",".join(self._brokers), **self._add_config}
            checked = checked_resume(config, topic, int(idx), offset, last_ts)
            offset, last_ts = checked, (last_ts if checked == offset else None)
        # as KafkaSource.build_part in Bytewax 0.21.1
        config = {
            "group.id": "BYTEWAX_IGNORED",  # offsets live in Bytewax's snapshots, not in a consumer group
            "enable.auto.commit": "false",
            "bootstrap.servers": ",".join(self._brokers),
            "enable.partition.eof": str(not self._tail),
            "statistics.interval.ms": 1000,
            # a fetch at the end of the log returns within 20 ms: a broker may hold it for the default
            # 500 ms (tansu does), and a frame arriving meanwhile would wait that long
            "fetch.wait.max.ms": 20,
            **self._add_config,
        }
        return _CheckedPartition(step_id, config, topic, int(idx), self._starting_offset, offset, self._batch_size,
                                 self._raise_on_errors, last_ts=last_ts)


@operator
def checked_input(step_id: str, flow: Dataflow, source: CheckedKafkaSource) -> KafkaOpOut:
    """``bytewax.connectors.kafka.operators.input`` over a CheckedKafkaSource: messages on ``.oks``,
    consumer errors on ``.errs`` (the source must not raise on errors). Keeps that operator's step
    names, so snapshots taken before this source existed still resume."""
    split = op.branch("split_err", op.input("kafka_input", flow, source), lambda m: isinstance(m, KafkaSourceMessage))
    return KafkaOpOut(split.trues, split.falses)
