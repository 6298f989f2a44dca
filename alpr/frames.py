"""The frame message on the frames topic: JPEG value, camera id key, metadata in headers.

One module owns the format so the simulator, real-camera ingest and the read flow agree.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Iterable, Sequence

import cv2
import numpy as np

from alpr.domain import FrameMeta, Location

SCHEMA = b"alpr.frame/1"
H_SCHEMA = "schema"
H_CAMERA = "camera_id"
H_FRAME = "frame_id"
H_CAPTURED = "captured_at_ms"
H_LAT = "latitude"
H_LON = "longitude"
H_TRUTH = "sim_true_plates"
H_CONTENT_TYPE = "content-type"

Headers = Sequence[tuple[str, bytes | None]]


class FrameError(ValueError):
    """A frame message that cannot be processed; ``reason`` is a short, bounded code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def to_message(meta: FrameMeta, jpeg: bytes) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) for producing one frame."""
    ms = int(meta.captured_at.timestamp() * 1000)
    headers = [
        (H_SCHEMA, SCHEMA),
        (H_CONTENT_TYPE, b"image/jpeg"),
        (H_CAMERA, meta.camera_id.encode()),
        (H_FRAME, meta.frame_id.encode()),
        (H_CAPTURED, str(ms).encode()),
        (H_LAT, repr(meta.location.latitude).encode()),
        (H_LON, repr(meta.location.longitude).encode()),
    ]
    if meta.true_plates is not None:
        headers.append((H_TRUTH, json.dumps(list(meta.true_plates)).encode()))
    return meta.camera_id.encode(), jpeg, headers


def _header_map(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, bytes]:
    return {k: v for k, v in (headers or []) if v is not None}


def _text(h: dict[str, bytes], name: str) -> str:
    if name not in h:
        raise FrameError("missing_header", f"header {name!r} is missing")
    try:
        value = h[name].decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise FrameError("bad_header", f"header {name!r} is not UTF-8") from exc
    if not value:
        raise FrameError("bad_header", f"header {name!r} is empty")
    return value


def _number(h: dict[str, bytes], name: str, lo: float, hi: float) -> float:
    text = _text(h, name)
    try:
        value = float(text)
    except ValueError as exc:
        raise FrameError("bad_header", f"header {name!r}={text!r} is not a number") from exc
    if not math.isfinite(value) or not lo <= value <= hi:
        raise FrameError("bad_header", f"header {name!r}={text!r} is outside {lo}..{hi}")
    return value


def parse(key: bytes | None, value: bytes | None, headers: Headers | None) -> tuple[FrameMeta, bytes]:
    """Validate a frame message; raise FrameError with the reason when it is malformed."""
    h = _header_map(headers)
    camera_id = _text(h, H_CAMERA)
    if key is not None and key.decode("utf-8", "replace") != camera_id:
        raise FrameError("bad_header", f"message key {key!r} differs from camera_id {camera_id!r}")
    frame_id = _text(h, H_FRAME)
    ms_text = _text(h, H_CAPTURED)
    if not ms_text.isdigit():
        raise FrameError("bad_header", f"header {H_CAPTURED!r}={ms_text!r} is not epoch milliseconds")
    captured_at = datetime.fromtimestamp(int(ms_text) / 1000, tz=timezone.utc)
    location = Location(_number(h, H_LAT, -90, 90), _number(h, H_LON, -180, 180))
    truth = None
    if H_TRUTH in h:
        try:
            truth = tuple(json.loads(h[H_TRUTH]))
        except (ValueError, TypeError) as exc:
            raise FrameError("bad_header", f"header {H_TRUTH!r} is not a JSON list") from exc
    if not value:
        raise FrameError("empty_payload", "message has no image")
    if value[:2] != b"\xff\xd8":
        raise FrameError("not_jpeg", "payload does not start with a JPEG marker")
    return FrameMeta(camera_id, frame_id, captured_at, location, truth), value


def decode_image(jpeg: bytes) -> np.ndarray:
    """JPEG bytes to a BGR image; a truncated or corrupt JPEG raises FrameError."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise FrameError("undecodable_image", "JPEG could not be decoded")
    return image
