"""Kafka topics and producers shared by the simulator, ingest and the flow."""

from __future__ import annotations

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from alpr.config import Config

MESSAGE_MAX_BYTES = 8 * 1024 * 1024  # the producers' message.max.bytes: a frame is far smaller


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
