"""Kafka topics and producers shared by the simulator, ingest and the flow."""

from __future__ import annotations

import logging

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.connectors.kafka.operators import KafkaOpOut
from bytewax.dataflow import Dataflow, operator
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
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
    """Create the frames (partitioned by camera), hits and dead-letter topics if they are missing."""
    admin = AdminClient(cfg.kafka.client_config())
    wanted = {
        cfg.kafka.frames_topic: cfg.kafka.frames_partitions,
        cfg.kafka.hits_topic: 1,
        cfg.kafka.dead_letter_topic: 1,
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


def offset_held(consumer_config: dict, topic: str, partition: int, offset: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the broker still holds the record at ``offset``.

    tansu's high watermark counts record batches, not records, so it cannot tell whether an
    offset lies past the end; reading the record can. Past the end, tansu answers nothing at all:
    no record within ``timeout_s`` counts as not held (an intact log answers in milliseconds).
    """
    c = Consumer({**consumer_config, "group.id": "alpr-offset-probe", "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "error", "fetch.wait.max.ms": 10,
                  "log_level": 0})
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        msg = c.poll(timeout_s)
        return msg is not None and msg.error() is None and msg.offset() == offset
    finally:
        c.close()


def checked_resume(consumer_config: dict, topic: str, partition: int, resume: int) -> int:
    """The offset to resume a partition from: ``resume`` while the broker holds the log up to it,
    else the log's start. A broker that lost its log (tansu keeps it in memory only) or a topic
    recreated since the snapshot would otherwise leave the resume offset past the new end, where
    the consumer jumps to the end and skips every frame sent since."""
    if resume <= 0:  # the start, or a logical offset (OFFSET_BEGINNING, ...): nothing to check
        return resume
    c = Consumer({**consumer_config, "group.id": "alpr-offset-probe", "log_level": 0})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()
    if resume < low:
        why = f"the broker's log now starts at {low}"
    elif resume <= high or offset_held(consumer_config, topic, partition, resume - 1):
        return resume
    else:
        why = "the broker no longer holds it (restarted without its log, or the topic was recreated)"
    log.warning("%s partition %d: resume offset %d is gone: %s; reading the partition from offset %d",
                topic, partition, resume, why, low)
    RESUME_RESETS.labels(topic).inc()
    return low


class CheckedKafkaSource(KafkaSource):
    """Bytewax's KafkaSource, resuming each partition from an offset the broker still holds
    (``checked_resume``)."""

    def build_part(self, step_id: str, for_part: str, resume_state: int | None):
        if resume_state is not None:
            idx, topic = for_part.split("-", 1)
            config = {"bootstrap.servers": ",".join(self._brokers), **self._add_config}
            resume_state = checked_resume(config, topic, int(idx), resume_state)
        return super().build_part(step_id, for_part, resume_state)


@operator
def checked_input(step_id: str, flow: Dataflow, source: CheckedKafkaSource) -> KafkaOpOut:
    """``bytewax.connectors.kafka.operators.input`` over a CheckedKafkaSource: messages on ``.oks``,
    consumer errors on ``.errs`` (the source must not raise on errors). Keeps that operator's step
    names, so snapshots taken before this source existed still resume."""
    split = op.branch("split_err", op.input("kafka_input", flow, source), lambda m: isinstance(m, KafkaSourceMessage))
    return KafkaOpOut(split.trues, split.falses)
