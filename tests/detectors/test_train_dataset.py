"""The detector's training set: simulated and real scenes become YOLO labels that match their boxes."""

import pytest

from alpr.config import SimulatorConfig
from alpr.dev.simulator.dataset import write_dataset
from alpr.dev.simulator.traffic import Simulator
from detectors.training.detector_data import build_dataset


def test_real_and_simulated_scenes_become_yolo_labels(tmp_path):
    real = tmp_path / "endtoend"
    write_dataset(Simulator(SimulatorConfig(seed=3, no_plate_ratio=0.0)).frames(realtime=False), real, 6)
    data, stats = build_dataset(tmp_path / "yolo", sim_count=4, real_dirs=[real], negatives_dir=None, negatives=0,
                                val_fraction=0.3, seed=1)

    assert stats.sources == {"simulator": 4, str(real): 6}
    assert stats.train_images + stats.val_images == 10 and stats.val_images > 0
    assert f"path: {(tmp_path / 'yolo').resolve()}" in data.read_text() and "0: plate" in data.read_text()
    for label in real.glob("*.txt"):
        name, x, y, w, h, _ = label.read_text().splitlines()[0].split("\t")
        written = list((tmp_path / "yolo" / "labels").glob(f"*/endtoend-{label.stem}.txt"))
        assert len(written) == 1
        cls, cx, cy, bw, bh = written[0].read_text().splitlines()[0].split()  # labels keep the order of the plates
        width, height = 960, 540  # the simulator's default frame
        assert cls == "0"
        assert float(cx) == pytest.approx((int(x) + int(w) / 2) / width, abs=1e-5)
        assert float(cy) == pytest.approx((int(y) + int(h) / 2) / height, abs=1e-5)
        assert float(bw) == pytest.approx(int(w) / width, abs=1e-5) and float(bh) == pytest.approx(int(h) / height, abs=1e-5)
    images = {p.stem for p in (tmp_path / "yolo" / "images").glob("*/*.jpg")}
    labels = {p.stem for p in (tmp_path / "yolo" / "labels").glob("*/*.txt")}
    assert images == labels and len(images) == 10


def test_train_recognizer_refuses_missing_data_before_loading_torch(tmp_path, monkeypatch, capsys):
    from alpr.app.cli import main

    monkeypatch.setenv("ALPR_DATA_DIR", str(tmp_path))
    out = str(tmp_path / "rec.onnx")
    assert main(["train", "recognizer", "--out", out]) == 2
    assert "at least one of" in capsys.readouterr().err
    assert main(["train", "recognizer", "--out", out, "--crops", str(tmp_path / "nope")]) == 2
    assert "--crops: no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("size", ["384x600", "640", "0x640", "axb"])
def test_train_detector_refuses_an_input_size_yolo_cannot_take(size, capsys):
    from alpr.app.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["train", "detector", "--input", size])
    assert stop.value.code == 2 and "--input" in capsys.readouterr().err
