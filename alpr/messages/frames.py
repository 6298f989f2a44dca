"""The frame message on the frames topic: JPEG value, camera id key, metadata in headers.

One module owns the format so the simulator, real-camera ingest and the read flow agree.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

import cv2
import numpy as np

from alpr.domain.types import FrameMeta, Location

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

# Every reason ``parse`` and ``decode_image`` give: a bounded set, used as a metric label.
REASONS = frozenset({"missing_header", "bad_header", "empty_payload", "not_jpeg", "too_large", "undecodable_image"})
# Stays under the producers' message.max.bytes (alpr.messages.kafka), so a rejected frame can be dead-lettered
# whole; a bigger one came from a foreign producer and is dead-lettered without its image.
MAX_FRAME_BYTES = 8 * 1024 * 1024 - 64 * 1024
MAX_ID_CHARS = 128
MAX_TRUTH_BYTES = 4096
MAX_NUMBER_CHARS = 32
MAX_DETAIL_CHARS = 300
EARLIEST_CAPTURE = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_CLOCK_AHEAD = timedelta(days=1)  # a camera clock this far ahead is wrong, not early
MS_PATTERN = re.compile(r"[0-9]{1,15}")  # ASCII only: str.isdigit() also takes '²' and other scripts' digits
NUMBER_PATTERN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")  # as repr(float) writes it


class FrameError(ValueError):
    """A frame message that cannot be processed; ``reason`` is a short, bounded code."""

    def __init__(self, reason: str, detail: str):
        detail = detail[:MAX_DETAIL_CHARS]
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
    return {k: v for k, v in (headers or []) if isinstance(v, bytes)}


def _text(h: dict[str, bytes], name: str, max_chars: int) -> str:
    if name not in h:
        raise FrameError("missing_header", f"header {name!r} is missing")
    if len(h[name]) > 4 * max_chars:  # UTF-8 takes at most 4 bytes a character
        raise FrameError("bad_header", f"header {name!r} is longer than {max_chars} characters")
    try:
        value = h[name].decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise FrameError("bad_header", f"header {name!r} is not UTF-8") from exc
    if not value:
        raise FrameError("bad_header", f"header {name!r} is empty")
    if len(value) > max_chars:
        raise FrameError("bad_header", f"header {name!r} is longer than {max_chars} characters")
    return value


def _id(h: dict[str, bytes], name: str) -> str:
    """A camera or frame id: it becomes a key, a metric label and a stored column, so printable only."""
    value = _text(h, name, MAX_ID_CHARS)
    if not value.isprintable():
        raise FrameError("bad_header", f"header {name!r}={value!r} has unprintable characters")
    return value


def _number(h: dict[str, bytes], name: str, lo: float, hi: float) -> float:
    text = _text(h, name, MAX_NUMBER_CHARS)
    if not NUMBER_PATTERN.fullmatch(text):  # float() also takes 'nan', 'inf', '1_0' and other scripts' digits
        raise FrameError("bad_header", f"header {name!r}={text!r} is not a decimal number")
    value = float(text)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise FrameError("bad_header", f"header {name!r}={text!r} is outside {lo}..{hi}")
    return value


def _captured_at(h: dict[str, bytes], now: datetime) -> datetime:
    text = _text(h, H_CAPTURED, MAX_NUMBER_CHARS)
    if not MS_PATTERN.fullmatch(text):
        raise FrameError("bad_header", f"header {H_CAPTURED!r}={text!r} is not epoch milliseconds")
    ms = int(text)
    if not EARLIEST_CAPTURE.timestamp() * 1000 <= ms <= (now + MAX_CLOCK_AHEAD).timestamp() * 1000:
        raise FrameError("bad_header", f"header {H_CAPTURED!r}={text!r} is outside "
                                       f"{EARLIEST_CAPTURE:%Y-%m-%d} .. a day from now")
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _truth(h: dict[str, bytes]) -> tuple[str, ...] | None:
    """The simulator's true plates, when it made the frame (for scoring)."""
    if H_TRUTH not in h:
        return None
    raw = h[H_TRUTH]
    if len(raw) > MAX_TRUTH_BYTES:
        raise FrameError("bad_header", f"header {H_TRUTH!r} is longer than {MAX_TRUTH_BYTES} bytes")
    try:
        truth = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise FrameError("bad_header", f"header {H_TRUTH!r} is not JSON") from exc
    if not isinstance(truth, list) or not all(isinstance(p, str) for p in truth):
        raise FrameError("bad_header", f"header {H_TRUTH!r} is not a JSON list of plates")
    return tuple(truth)


def parse(key: bytes | None, value: bytes | None, headers: Headers | None,
          now: datetime | None = None) -> tuple[FrameMeta, bytes]:
    """Validate a frame message; raise FrameError with the reason when it is malformed.

    Every header is checked strictly: a value that slipped through would fail later, inside the
    flow, and a crash there replays the same message after every restart.
    """
    if value is not None and len(value) > MAX_FRAME_BYTES:
        raise FrameError("too_large", f"payload of {len(value)} bytes is over {MAX_FRAME_BYTES}")
    h = _header_map(headers)
    camera_id = _id(h, H_CAMERA)
    if key is not None and key.decode("utf-8", "replace") != camera_id:
        raise FrameError("bad_header", f"message key {key[:MAX_ID_CHARS]!r} differs from camera_id {camera_id!r}")
    frame_id = _id(h, H_FRAME)
    captured_at = _captured_at(h, now or datetime.now(timezone.utc))
    location = Location(_number(h, H_LAT, -90, 90), _number(h, H_LON, -180, 180))
    truth = _truth(h)
    if not value:
        raise FrameError("empty_payload", "message has no image")
    if value[:2] != b"\xff\xd8":
        raise FrameError("not_jpeg", "payload does not start with a JPEG marker")
    return FrameMeta(camera_id, frame_id, captured_at, location, truth), value


def decode_image(jpeg: bytes) -> np.ndarray:
    """JPEG bytes to a BGR image; a truncated or corrupt JPEG raises FrameError."""
    try:
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise FrameError("undecodable_image", f"JPEG could not be decoded: {exc}") from exc
    if image is None or image.size == 0:
        raise FrameError("undecodable_image", "JPEG could not be decoded")
    return image
