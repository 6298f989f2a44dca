"""Workflow steps on hits as Kafka messages (``kafka.hit_steps_topic``): every console, in any API
process, and any CAD system learns of a step within the feed's delay.

A step message carries the hit's summary (plate, camera, list, site), so a console that has not seen
the hit yet, such as an officer's when dispatch broadcasts a fixed-site hit, can show it. Notes stay
in ClickHouse: a console fetches the hit (audited) to read them.
"""

from __future__ import annotations

import json
import logging

from confluent_kafka import Producer

from alpr.config import Config

log = logging.getLogger(__name__)

STEP_SCHEMA = "alpr.hit-step/1"


def step_message(hit: dict, step: dict, camera_name: str) -> dict:
    """The step (a ``hit_dispositions`` row) and the summary of its hit (``HitDesk.hit``)."""
    return {
        "schema": STEP_SCHEMA, "hit_id": hit["hit_id"], "step": step["step"], "action": step["action"],
        "state": step["state"], "at": step["at"].isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "username": step["username"], "role": step["role"], "fields": step["fields"],
        "site": hit["site"], "camera_id": hit["camera_id"], "camera_name": camera_name, "plate": hit["plate"],
        "list_name": hit["list_name"], "match": hit["match_kind"],
        "captured_at": hit["captured_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


class StepPublisher:
    """Publishes each step once it is recorded; a step that cannot be published is still recorded
    (ClickHouse is the record), and consoles see it on their next fetch of the hit."""

    def __init__(self, cfg: Config):
        self.topic = cfg.kafka.hit_steps_topic
        self.producer: Producer | None = Producer({**cfg.kafka.client_config(), "linger.ms": 0,
                                                   "message.timeout.ms": 10_000})

    def close(self) -> None:
        """Send what is queued and let the client go (it would retry a broker that is gone)."""
        if self.producer is not None:
            self.producer.flush(5)
            self.producer = None

    def publish(self, message: dict) -> bool:
        if self.producer is None:
            log.warning("hit step %s/%s not published: the server is stopping", message["hit_id"], message["step"])
            return False
        self.producer.produce(self.topic, key=message["hit_id"].encode(), value=json.dumps(message).encode(),
                              headers=[("schema", STEP_SCHEMA.encode()), ("hit_id", message["hit_id"].encode())])
        if self.producer.flush(5):
            log.warning("hit step %s/%s not acknowledged by Kafka within 5 s", message["hit_id"], message["step"])
            return False
        return True
