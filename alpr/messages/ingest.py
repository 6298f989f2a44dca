"""Real cameras in: a video file, an RTSP/HTTP stream or an image folder, read with OpenCV.

Frames are published at no more than ``max_fps``. A live stream that drops is reopened with
exponential backoff; a source that cannot be opened at all fails at once with a clear message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from alpr.domain.types import FrameMeta, Location
from alpr.messages.frames import encode_jpeg

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://")


class SourceError(RuntimeError):
    """The source cannot be read at all."""


@dataclass(frozen=True)
class Captured:
    image: np.ndarray
    captured_at: datetime


def is_stream(source: str) -> bool:
    return source.lower().startswith(STREAM_SCHEMES)


def _folder(path: Path) -> Iterator[Captured]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(f"image folder {path} holds no .jpg/.png/.bmp files")
    for p in files:
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("skipping unreadable image %s", p)
            continue
        yield Captured(image, datetime.now(timezone.utc))


def _video_file(path: Path, max_fps: float) -> Iterator[Captured]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"cannot open video file {path}: not a video OpenCV can decode")
    start = datetime.now(timezone.utc)
    min_gap_ms = 1000.0 / max_fps
    last_ms = -float("inf")
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            if pos_ms - last_ms + 1e-6 < min_gap_ms:  # cap the rate on the video's own clock
                continue
            last_ms = pos_ms
            yield Captured(image, start + timedelta(milliseconds=pos_ms))
    finally:
        cap.release()


def _stream(url: str, max_backoff_s: float, open_attempts: int, sleep: Callable[[float], None]) -> Iterator[Captured]:
    backoff, attempts, ever_opened = 1.0, 0, False
    while True:
        cap = cv2.VideoCapture(url)
        if not cap.isOpened():
            attempts += 1
            if not ever_opened and attempts >= open_attempts:
                raise SourceError(f"cannot open stream {url} after {attempts} attempts")
            log.warning("stream %s unavailable; retrying in %.0f s", url, backoff)
            sleep(backoff)
            backoff = min(max_backoff_s, backoff * 2)
            continue
        ever_opened, attempts, backoff = True, 0, 1.0
        while True:
            ok, image = cap.read()
            if not ok:
                log.warning("stream %s dropped; reconnecting", url)
                break
            yield Captured(image, datetime.now(timezone.utc))
        cap.release()


def open_source(source: str, max_fps: float, max_backoff_s: float = 30.0, open_attempts: int = 5,
                sleep: Callable[[float], None] = time.sleep) -> Iterator[Captured]:
    """Frames from the source; raises SourceError before yielding anything if it is unusable."""
    if is_stream(source):
        return _stream(source, max_backoff_s, open_attempts, sleep)
    path = Path(source)
    if not path.exists():
        raise SourceError(f"source {source} does not exist (expected a video file, an image folder or a stream URL)")
    return _folder(path) if path.is_dir() else _video_file(path, max_fps)


def ingest(
    frames: Iterator[Captured],
    camera_id: str,
    location: Location,
    publish: Callable[[FrameMeta, bytes], None],
    max_fps: float,
    live: bool,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Publish frames, at most max_fps. Live sources drop extra frames; files are paced instead."""
    gap = 1.0 / max_fps
    next_at = clock()
    n = 0
    last_ms = -1
    for cap in frames:
        now = clock()
        if now < next_at:
            if live:
                continue  # a live camera runs faster than the cap: drop this frame
            sleep(next_at - now)
        next_at = max(next_at + gap, clock())
        ms = int(cap.captured_at.timestamp() * 1000)
        ms = max(ms, last_ms + 1)  # frame ids stay unique even for frames within one millisecond
        last_ms = ms
        captured_at = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
        publish(FrameMeta(camera_id, f"{camera_id}-{ms}", captured_at, location), encode_jpeg(cap.image))
        n += 1
    return n
