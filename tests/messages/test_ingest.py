from pathlib import Path

import cv2
import numpy as np
import pytest

from alpr.domain.types import Location
from alpr.messages import ingest

LOC = Location(40.0, -74.0)


def _write_images(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"img{i:03d}.jpg"), np.full((60, 80, 3), i * 10, np.uint8))


def _collect(source, max_fps=1000.0, live=False):
    out = []
    n = ingest.ingest(source, "cam-9", LOC, lambda meta, jpeg: out.append((meta, jpeg)), max_fps, live=live,
                      sleep=lambda s: None)
    return n, out


def test_image_folder(tmp_path):
    _write_images(tmp_path / "imgs", 5)
    n, out = _collect(ingest.open_source(str(tmp_path / "imgs"), 1000))
    assert n == 5
    assert len({m.frame_id for m, _ in out}) == 5
    assert all(m.camera_id == "cam-9" and m.location == LOC and j[:2] == b"\xff\xd8" for m, j in out)


def test_video_file_is_sampled_to_the_rate_cap(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(30):  # 3 s at 10 fps
        writer.write(np.full((48, 64, 3), i * 8, np.uint8))
    writer.release()
    n, out = _collect(ingest.open_source(str(path), max_fps=2.0), max_fps=2.0)
    assert 5 <= n <= 7  # 3 s of video at 2 fps
    times = [m.captured_at for m, _ in out]
    assert all(0.45 <= (b - a).total_seconds() <= 0.65 for a, b in zip(times, times[1:]))


def test_live_source_drops_frames_over_the_cap():
    frames = [ingest.Captured(np.zeros((8, 8, 3), np.uint8), __import__("datetime").datetime.now(
        __import__("datetime").timezone.utc)) for _ in range(50)]
    clock = iter(i * 0.02 for i in range(10_000))  # a camera at 50 fps, one second
    out = []
    n = ingest.ingest(iter(frames), "c", LOC, lambda m, j: out.append(m), 5.0, live=True, clock=lambda: next(clock))
    assert 4 <= n <= 6


@pytest.mark.parametrize("make", [
    lambda p: str(p / "missing.mp4"),
    lambda p: (p / "empty").mkdir() or str(p / "empty"),
    lambda p: (p / "bad.mp4").write_bytes(b"not a video") and str(p / "bad.mp4"),
])
def test_unreadable_sources_fail_clearly(tmp_path, make):
    with pytest.raises(ingest.SourceError):
        list(ingest.open_source(make(tmp_path), 5))


def test_unreachable_stream_backs_off_then_fails():
    waits = []
    src = ingest.open_source("rtsp://127.0.0.1:1/cam", 5, open_attempts=4, sleep=waits.append)
    with pytest.raises(ingest.SourceError, match="after 4 attempts"):
        next(src)
    assert waits == [1.0, 2.0, 4.0]
