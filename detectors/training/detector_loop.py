"""Training the plate detector: ultralytics from the model yaml (no pretrained weights exist
offline), ONNX export and a model card recording the data, settings, metrics and the file's sha256,
so a run can be repeated. Needs the ``train`` extra (torch, ultralytics, onnx).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from detectors.training.detector_data import DatasetStats, sha256


def _offline_ultralytics(workdir: Path) -> None:
    """Ultralytics must not reach the internet, and looks for a font it would otherwise download."""
    config_dir = workdir / "ultralytics-config"
    (config_dir / "Ultralytics").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)


def train(data: Path, out_onnx: Path, *, model: str, epochs: int, imgsz: int, batch: int, workdir: Path,
          hours: float | None = None, seed: int = 0, export_size: tuple[int, int] | None = None) -> dict:
    """Trains ``model`` (a yaml from scratch, or our own earlier ``.pt`` to go on from), exports the
    best weights to ``out_onnx`` (input ``export_size`` (height, width), default ``imgsz`` square: the
    network is convolutional, so a 16:9 input sees a 16:9 frame larger for the same cost); returns
    the final metrics."""
    _offline_ultralytics(workdir)
    from ultralytics import YOLO, settings

    settings.update({"sync": False})
    yolo = YOLO(model)
    t0 = time.monotonic()
    limit = {"time": hours} if hours else {}
    yolo.train(data=str(data), epochs=epochs, **limit, imgsz=imgsz, batch=batch, device="cpu", workers=0, seed=seed,
               project=str(workdir), name="run", exist_ok=True, pretrained=model.endswith(".pt"), amp=False, plots=True,
               deterministic=True, verbose=False)
    minutes = (time.monotonic() - t0) / 60
    best = workdir / "run" / "weights" / "best.pt"
    trained = YOLO(str(best))
    val = trained.val(data=str(data), imgsz=imgsz, batch=batch, device="cpu", workers=0, plots=False, verbose=False)
    exported = Path(trained.export(format="onnx", imgsz=list(export_size or (imgsz, imgsz)), simplify=True, dynamic=False, opset=17))
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(exported, out_onnx)
    epochs_done = sum(1 for _ in open(workdir / "run" / "results.csv")) - 1
    return {"epochs_done": epochs_done, "train_minutes": round(minutes, 1), "val_map50": round(float(val.box.map50), 4),
            "val_map50_95": round(float(val.box.map), 4), "val_precision": round(float(val.box.mp), 4),
            "val_recall": round(float(val.box.mr), 4), "weights_pt": str(best)}


def write_card(onnx: Path, *, model: str, epochs: int, imgsz: int, batch: int, seed: int, stats: DatasetStats,
               held_out: list[str], metrics: dict, command: str, input_size: tuple[int, int] | None = None) -> Path:
    """``NAME.json`` (for programs) and ``NAME.md`` (for people) beside the weights."""
    import ultralytics

    input_size = input_size or (imgsz, imgsz)
    card = {
        "model": onnx.name, "architecture": model, "classes": ["plate"], "imgsz": imgsz, "input": list(input_size),
        "epochs": epochs,
        "batch": batch, "seed": seed, "sha256": sha256(onnx), "bytes": onnx.stat().st_size,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": asdict(stats), "held_out": held_out, "metrics": {k: v for k, v in metrics.items() if k != "weights_pt"},
        "command": command, "ultralytics": ultralytics.__version__, "python": platform.python_version(),
        "notes": "Trained on CPU from the yaml, or from our own earlier weights named in `architecture`; never "
                 "from downloaded weights. Validation metrics are on the 10% "
                 "validation share of the training sources; report reading accuracy with `alpr eval` on the "
                 "held-out folders only.",
    }
    base_card = Path(model).with_suffix(".json")
    if model.endswith(".pt") and base_card.is_file():  # trained on from our own weights: keep their history
        card["base"] = json.loads(base_card.read_text())
    card_json = onnx.with_suffix(".json")
    card_json.write_text(json.dumps(card, indent=2) + "\n")
    lines = [f"# Plate detector `{onnx.name}`", "",
             f"- Architecture: {model}, one class (plate), input {input_size[0]}x{input_size[1]} (height x width), trained "
             f"{metrics.get('epochs_done', epochs)} epochs at {imgsz} px (batch {batch}, seed {seed}) with ultralytics {ultralytics.__version__} on CPU, from the yaml or "
             "from our own earlier weights (never downloaded ones).",
             f"- Command: `{command}`",
             f"- sha256: `{card['sha256']}` ({card['bytes']:,} bytes)",
             "", "## Data", "",
             *(f"- {src}: {n} images" for src, n in stats.sources.items()),
             f"- train {stats.train_images} images, validation {stats.val_images}; {stats.plates} plate boxes, "
             f"{stats.negatives} images without a plate",
             *(f"- held out (never trained or tuned on): {h}" for h in held_out),
             "", "## Validation (10% of the training sources)", "",
             *(f"- {k}: {v}" for k, v in card["metrics"].items()), ""]
    if "base" in card:
        base = card["base"]
        lines += ["## Trained on from", "", f"- `{base['model']}` ({base['architecture']}, {base['imgsz']} px, "
                  f"{base['metrics'].get('epochs_done', base['epochs'])} epochs), made by `{base['command']}`",
                  *(f"  - {src}: {n} images" for src, n in base["data"]["sources"].items()), ""]
    card_md = onnx.with_suffix(".md")
    card_md.write_text("\n".join(lines))
    return card_json
