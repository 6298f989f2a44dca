import math
import re
from datetime import datetime, timezone

import numpy as np

from alpr.config import SimulatorConfig
from alpr.dev.simulator.dataset import write_dataset
from alpr.dev.simulator.plates import STATES, plate_pool
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.plates import is_plausible

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc)


def _frames(cfg: SimulatorConfig, n: int):
    it = Simulator(cfg).frames(realtime=False, start=T0)
    return [next(it) for _ in range(n)]


def test_plates_follow_state_layouts():
    for spec in plate_pool(1, 300):
        assert 5 <= len(spec.plate) <= 8
        assert is_plausible(spec.plate)
        layouts = [re.sub(r"[ -]", "", lay) for lay in spec.state.layouts]
        assert any(all((c == "L" and p.isalpha()) or (c == "#" and p.isdigit()) for c, p in zip(lay, spec.plate))
                   and len(lay) == len(spec.plate) for lay in layouts)
    assert len({s.state.code for s in plate_pool(1, 300)}) == len(STATES)


def test_same_seed_same_traffic():
    a = _frames(SimulatorConfig(seed=3), 9)
    b = _frames(SimulatorConfig(seed=3), 9)
    assert [f.meta.true_plates for f in a] == [f.meta.true_plates for f in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))


def test_passes_span_several_frames_and_some_vehicles_have_no_plate():
    cfg = SimulatorConfig(fixed_cameras=1, mobile_units=0, no_plate_ratio=0.3, seed=11)
    fr = _frames(cfg, 120)
    plates = [f.meta.true_plates for f in fr]
    runs, run = [], 1
    for prev, cur in zip(plates, plates[1:]):
        if cur and cur == prev:
            run += 1
        else:
            if prev:
                runs.append(run)
            run = 1
    assert runs and min(runs) >= 3 and max(runs) <= 7
    assert any(not p for p in plates)
    # plate boxes grow as the vehicle approaches: varied sizes
    widths = [np.ptp(q[:, 0]) for f in fr for _, q in f.plates]
    assert max(widths) > 1.4 * min(widths)


def test_fixed_cameras_stay_and_mobile_units_drive():
    cfg = SimulatorConfig(fixed_cameras=1, mobile_units=1, fps=1.0)
    fr = _frames(cfg, 40)
    fixed = {f.meta.location for f in fr if f.meta.camera_id.startswith("fixed")}
    mobile = [f.meta.location for f in fr if f.meta.camera_id.startswith("mobile")]
    assert len(fixed) == 1
    steps = [
        math.hypot((b.latitude - a.latitude) * 111_320,
                   (b.longitude - a.longitude) * 111_320 * math.cos(math.radians(a.latitude)))
        for a, b in zip(mobile, mobile[1:])
    ]
    assert all(5 < s < 16 for s in steps)  # about patrol speed, one frame per second


def test_capture_times_are_ordered_per_camera():
    fr = _frames(SimulatorConfig(), 30)
    for cam in {f.meta.camera_id for f in fr}:
        times = [f.meta.captured_at for f in fr if f.meta.camera_id == cam]
        assert times == sorted(times) and len(set(times)) == len(times)


def test_dataset_matches_openalpr_endtoend_format(tmp_path):
    frames = Simulator(SimulatorConfig(seed=5)).frames(realtime=False)
    stats = write_dataset(frames, tmp_path, 12)
    assert stats["images"] == 12 and stats["plates"] > 0
    labelled = 0
    for txt in tmp_path.glob("*.txt"):
        for line in txt.read_text().splitlines():
            name, x, y, w, h, plate = line.split("\t")
            assert name == txt.with_suffix(".jpg").name and (tmp_path / name).exists()
            import cv2

            img = cv2.imread(str(tmp_path / name))
            x, y, w, h = map(int, (x, y, w, h))
            assert 0 <= x and 0 <= y and x + w <= img.shape[1] and y + h <= img.shape[0] and w > 20 and h > 8
            assert is_plausible(plate)
            labelled += 1
    assert labelled == stats["plates"]
