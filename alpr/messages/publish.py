"""Publishing frames to the frames topic, for the simulator and for real-camera ingest."""

from __future__ import annotations

import logging

from alpr.config import Config
from alpr.domain.types import FrameMeta
from alpr.messages import frames, kafka
from alpr.metrics import FRAMES_PUBLISHED

log = logging.getLogger(__name__)


class FramePublisher:
    """Idempotent producer keyed by camera id, so one camera's frames stay in order on one partition."""

    def __init__(self, cfg: Config):
        self.topic = cfg.kafka.frames_topic
        self.producer = kafka.producer(cfg)
        self.sent = 0
        self.failed = 0

    def _delivered(self, err, msg) -> None:
        if err is not None:
            self.failed += 1
            log.error("frame delivery failed: %s", err)

    def publish(self, meta: FrameMeta, jpeg: bytes) -> None:
        key, value, headers = frames.to_message(meta, jpeg)
        self.publish_raw(key, value, headers)
        FRAMES_PUBLISHED.labels(meta.camera_id).inc()

    def publish_raw(self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        while True:
            try:
                self.producer.produce(self.topic, key=key, value=value, headers=headers, on_delivery=self._delivered)
                break
            except BufferError:  # local queue full: let librdkafka send, then retry
                self.producer.poll(0.1)
        self.producer.poll(0)
        self.sent += 1

    def flush(self, timeout_s: float = 30.0) -> None:
        left = self.producer.flush(timeout_s)
        if left:
            raise RuntimeError(f"{left} frames were not delivered within {timeout_s} s")
        if self.failed:
            raise RuntimeError(f"{self.failed} frames failed delivery (see log)")
