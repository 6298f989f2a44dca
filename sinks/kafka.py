"""Kafka messages the flow publishes: hits for dispatch and dead letters for bad input."""

from __future__ import annotations

import json

from bytewax.connectors.kafka import KafkaSinkMessage, KafkaSourceMessage

from alpr.domain import Hit

HIT_SCHEMA = "alpr.hit/1"


def hit_payload(hit: Hit, database: str) -> dict:
    """The hit as the versioned JSON document in infra/schemas/hit.v1.json."""
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
        "captured_at": read.frame.captured_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "location": {"latitude": read.frame.location.latitude, "longitude": read.frame.location.longitude},
        "list_name": hit.entry.list_name,
        "entry_id": hit.entry.entry_id,
        "entry_sealed": hit.entry.sealed,
        "crop_ref": f"clickhouse://{database}.read_images/{read.read_id}#crop_jpeg",
    }


def hit_message(hit: Hit, topic: str, database: str) -> KafkaSinkMessage[bytes, bytes]:
    """Keyed by camera so one camera's hits stay in order."""
    return KafkaSinkMessage(
        key=hit.read.frame.camera_id.encode(),
        value=json.dumps(hit_payload(hit, database), separators=(",", ":")).encode(),
        topic=topic,
        headers=[("schema", HIT_SCHEMA.encode()), ("hit_id", hit.hit_id.encode())],
    )


def dead_letter_message(
    msg: KafkaSourceMessage, topic: str, stage: str, reason: str, detail: str
) -> KafkaSinkMessage:
    """The original key, value and headers untouched, plus why and where it was rejected."""
    source = f"{msg.topic}/{msg.partition}/{msg.offset}"
    headers = list(msg.headers or []) + [
        ("dlq_stage", stage.encode()),
        ("dlq_reason", reason.encode()),
        ("dlq_detail", detail[:1000].encode()),
        ("dlq_source", source.encode()),
    ]
    return KafkaSinkMessage(key=msg.key, value=msg.value, topic=topic, headers=headers)
