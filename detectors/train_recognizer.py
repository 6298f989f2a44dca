"""Fine-tuning the plate recognizer: PP-OCRv4's text recognizer, as shipped in rapidocr-onnxruntime,
trained on plate crops with CTC on CPU, its 6,625-class head cut to the 37 plate classes, exported
to ONNX for ``PPOCRReader(recognizer=...)`` with a model card beside it.

The stock model reads plates well but sometimes blends a sticker or the frame into the reading and
confuses look-alikes of plate fonts; a department with its own labelled plate crops can fine-tune it
on them. (With the ~220 US development crops here it did not beat the stock model on held-out
plates: see the README.) Crops come both
from truth boxes (the character band, as ``PPOCRReader.recognize`` cuts a tight crop) and from the
text lines the stock detector finds in whole scenes (as ``PPOCRReader.read`` cuts them), so the
model learns the cuts it sees in production.

Needs the ``train`` extra (torch, onnx, onnxslim, onnx2torch), imported inside the functions that
use them: the data functions run without torch. Run it as ``alpr train recognizer``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import cv2
import numpy as np

from alpr.domain.boxes import padded
from alpr.domain.scoring import corpus_scores, iou
from alpr.domain.types import Box
from detectors import ctc, recognizers
from detectors.evaluate import endtoend_labels
from detectors.ppocr import CHAR_BAND, REC_MIN_RATIO, grow, joined_fragments, line_shape_ok, plate_box
from detectors.train import in_training_share, sha256

if TYPE_CHECKING:
    from detectors.ppocr import PPOCRReader

ALPHABET = ctc.PLATE_ALPHABET  # the cut head's classes after the CTC blank
MODEL_NAME = "ppocr-v4-plate"
STOCK_REC = "ch_PP-OCRv4_rec_infer.onnx"  # inside rapidocr_onnxruntime/models
REC_HEIGHT = 48
# Brazilian crops (br-crops): the characters span about 25-82% of the crop's rows.
EXTRA_BAND = (0.18, 0.90)
VAL_SHARE = 0.2  # of the training share, by a second name hash: model selection only
EXTRA_VAL_MAX = 100
MIN_IOU = 0.3  # a detected line's plate box must overlap the truth box this much to take its label
SCENE_MARGIN = 0.3  # share of the plate box kept around it when cutting a scene (room for jitter, rotation)
LINE_MARGIN = (0.08, 0.2)  # (of width, of height) kept around a detected line when cutting it


class Sample(NamedTuple):
    """One training crop: ``box`` (x0, y0, x1, y1) is the plate (or text line) in ``image``, ``band``
    the share of its rows that holds the characters."""

    name: str  # scene or file name, then "#k" for the k-th plate in a scene
    image: np.ndarray
    box: tuple[float, float, float, float]
    band: tuple[float, float]
    label: str


# ------------------------------------------------------------------------------------------- data
def clean_label(text: str) -> str:
    """Upper case, plate characters only (truth files hold spaces and dashes)."""
    return "".join(c for c in text.upper() if c in ALPHABET)


def scene_of(name: str) -> str:
    """The file or scene a sample was cut from: the unit of every split, so plates of one scene stay together."""
    return name.split("#", 1)[0]


def is_validation(name: str, share: float = VAL_SHARE) -> bool:
    """A second, independent hash of the training share: this share of it selects the checkpoint."""
    return in_training_share("val/" + scene_of(name), share)


def seg_and_ocr_samples(folder: Path, share: float, band: tuple[float, float] = CHAR_BAND) -> list[Sample]:
    """Tight plate crops of a ``seg_and_ocr`` folder (``groundtruth.csv``: file,state,plate; images
    in ``usimages/``) whose file is in the training share."""
    out = []
    with open(folder / "groundtruth.csv", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 3 or not in_training_share(row[0], share):
                continue
            image = cv2.imread(str(folder / "usimages" / row[0]))
            label = clean_label(row[2])
            if image is None or not label:
                continue
            out.append(Sample(row[0], image, (0.0, 0.0, float(image.shape[1]), float(image.shape[0])), band, label))
    return out


def endtoend_plates(folder: Path, share: float) -> Iterable[tuple[str, np.ndarray, list[tuple[Box, str]]]]:
    """(stem, scene, [(truth box, plate)]) of an ``endtoend`` folder (NAME.jpg and NAME.txt lines
    ``NAME.jpg<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE``) for the stems in the training share."""
    for label_file in sorted(folder.glob("*.txt")):
        if not in_training_share(label_file.stem, share):
            continue
        scene = cv2.imread(str(label_file.with_suffix(".jpg")))
        if scene is None:
            continue
        plates = [(box, clean_label(plate)) for box, plate in endtoend_labels(label_file) if clean_label(plate)]
        yield label_file.stem, scene, plates


def endtoend_samples(folder: Path, share: float, band: tuple[float, float] = CHAR_BAND,
                     margin: float = SCENE_MARGIN) -> list[Sample]:
    """Truth-box plates of an ``endtoend`` folder's training share; the scene is cut to the box plus
    ``margin`` of it on each side (context for jitter instead of a replicated border)."""
    out = []
    for stem, scene, plates in endtoend_plates(folder, share):
        for k, (b, label) in enumerate(plates):
            image, box = _cut_around(scene, (b.x, b.y, b.x + b.w, b.y + b.h), margin)
            out.append(Sample(f"{stem}#{k}", image, box, band, label))
    return out


def _cut_around(image: np.ndarray, box: tuple[float, float, float, float],
                margin: float) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """``image`` cut to ``box`` plus ``margin`` of its size on each side, and the box in the cut."""
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = padded(x0, y0, x1, y1, margin, margin, image.shape[1], image.shape[0], extra_px=2)
    return image[cy0:cy1, cx0:cx1].copy(), (float(x0 - cx0), float(y0 - cy0), float(x1 - cx0), float(y1 - cy0))


def labelled_crops_samples(folder: Path, band: tuple[float, float] = EXTRA_BAND) -> list[Sample]:
    """Tight plate crops listed in ``folder/labels.csv`` (header ``file,plate``), all of them: such a
    folder is an extra source, never scored on."""
    out = []
    with open(folder / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            image = cv2.imread(str(folder / row["file"]))
            label = clean_label(row["plate"])
            if image is None or not label:
                continue
            out.append(Sample(row["file"], image, (0.0, 0.0, float(image.shape[1]), float(image.shape[0])), band, label))
    return out


def synthetic_samples(count: int, seed: int = 0) -> list[Sample]:
    """Plates drawn by the simulator (``alpr.dev.simulator.render``: US state layouts, slogans, dealer
    frames), each the whole face with a border of bumper around it: more serials and more
    characters in every position than the few hundred real US crops, for the cost of one font."""
    from alpr.dev.simulator.plates import random_plate
    from alpr.dev.simulator.render import render_plate

    rng = random.Random(f"synthetic-{seed}")
    out = []
    for k in range(count):
        spec = random_plate(rng)
        face = render_plate(spec, rng)
        h, w = face.shape[:2]
        mx, my = int(0.1 * w), int(0.15 * h)
        colour = tuple(rng.randrange(20, 230) for _ in range(3))
        image = cv2.copyMakeBorder(face, my, my, mx, mx, cv2.BORDER_CONSTANT, value=colour)
        out.append(Sample(f"synthetic-{seed}-{k}", image, (float(mx), float(my), float(mx + w), float(my + h)), CHAR_BAND,
                          clean_label(spec.plate)))
    return out


def widen(quad: np.ndarray, left: float, right: float) -> np.ndarray:
    """The quad (clockwise from top-left) with its left and right edges moved out by a share of its
    width; ``detectors.ppocr.grow`` does top and bottom."""
    tl, tr, br, bl = quad.astype(np.float32)
    return np.stack([tl + (tl - tr) * left, tr + (tr - tl) * right, br + (br - bl) * right, bl + (bl - br) * left])


def match_lines(quads: Sequence[np.ndarray], truths: Sequence[Box], width: int, height: int,
                min_iou: float = MIN_IOU) -> list[tuple[int, np.ndarray]]:
    """(truth index, quad) for each truth box and the line whose plate box (``plate_box``, what the
    reader reports) overlaps it best, if at least ``min_iou``."""
    out = []
    boxes = [plate_box(q, width, height) for q in quads]
    for i, truth in enumerate(truths):
        scores = [iou(b, truth) for b in boxes]
        if scores and max(scores) >= min_iou:
            out.append((i, quads[int(np.argmax(scores))]))
    return out


def inner_box(width: int, height: int, margin: tuple[float, float]) -> tuple[float, float, float, float]:
    """Where the line lies in a cut of it grown by ``margin`` (of its width, of its height) on each side."""
    mx, my = margin
    return (width * mx / (1 + 2 * mx), height * my / (1 + 2 * my), width * (1 + mx) / (1 + 2 * mx),
            height * (1 + my) / (1 + 2 * my))


def detected_line_samples(folder: Path, share: float, reader: PPOCRReader | None = None,
                          margin: tuple[float, float] = LINE_MARGIN,
                          progress: Callable[[str], None] = lambda _: None) -> list[Sample]:
    """Plates of an ``endtoend`` folder's training share cut the way ``PPOCRReader.read`` cuts them:
    the stock detector's text lines (plate-shaped ones and joined fragments), each truth box given
    the line that matches it best (``match_lines``). The line is cut (``reader._cut``) with
    ``margin`` (of its width, of its height) around it so training can jitter it; the sample's box
    is the line itself and its band all of it."""
    reader = reader or stock_reader()
    out = []
    for n, (stem, scene, plates) in enumerate(endtoend_plates(folder, share), 1):
        lines = [q for q in reader._detect(scene)[0] if line_shape_ok(q)]
        candidates = lines + [q for q in joined_fragments(lines) if line_shape_ok(q)]
        h, w = scene.shape[:2]
        for k, quad in match_lines(candidates, [b for b, _ in plates], w, h):
            mx, my = margin
            image = reader._cut(scene, [grow(widen(quad, mx, mx), my, my)])[0]
            out.append(Sample(f"{stem}#{k}@line", image, inner_box(image.shape[1], image.shape[0], margin), (0.0, 1.0),
                              plates[k][1]))
        if n % 20 == 0:
            progress(f"{folder}: detected lines in {n} scenes, {len(out)} matched plates")
    return out


def band_crop(image: np.ndarray, box: tuple[float, float, float, float], band: tuple[float, float]) -> np.ndarray:
    """The character band of a box, cut as production cuts it (whole pixel rows, no augmentation)."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    return image[int(y0 + band[0] * h):int(y0 + band[1] * h), int(x0):int(x1)]


def augment(image: np.ndarray, box: tuple[float, float, float, float], band: tuple[float, float],
            rng: random.Random) -> np.ndarray:
    """A jittered, slightly rotated, degraded character band: the band's edges moved by up to 8% of
    the box height and 5% of its width (like the reader's second looks), +-3 degrees, then shrunk to
    the 14-32 px a plate has in a scene, blur, grey, brightness/contrast, noise or JPEG."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    top = y0 + band[0] * h + rng.uniform(-0.08, 0.08) * h
    bottom = y0 + band[1] * h + rng.uniform(-0.08, 0.08) * h
    left = x0 + rng.uniform(-0.05, 0.05) * w
    right = x1 + rng.uniform(-0.05, 0.05) * w
    ow, oh = max(8, int(round(right - left))), max(6, int(round(bottom - top)))
    m = cv2.getRotationMatrix2D(((left + right) / 2, (top + bottom) / 2), rng.uniform(-3, 3), 1.0)
    m[0, 2] -= left
    m[1, 2] -= top
    out = cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.5:
        target = rng.uniform(14, 32)
        if target < oh:
            s = target / oh
            out = cv2.resize(out, (max(4, round(ow * s)), max(4, round(oh * s))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.25:
        k = rng.choice([3, 3, 5])
        out = cv2.GaussianBlur(out, (k, k), rng.uniform(0.5, 1.2))
    f = out.astype(np.float32)
    if rng.random() < 0.15:
        f = np.repeat(f.mean(2, keepdims=True), 3, 2)
    if rng.random() < 0.8:
        mean = f.mean()
        f = (f - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-40, 40)
    if rng.random() < 0.2:
        f = f + np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(2, 8), f.shape)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        _, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, 85)])
        out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return out


def rec_batch(crops: Sequence[np.ndarray], width: int | None = None) -> np.ndarray:
    """(N, 3, 48, W) float32 exactly as ``PPOCRReader._recognize`` feeds the recognizer: height 48
    keeping the aspect, (x/255 - 0.5)/0.5, zero padding on the right to the batch width (at least
    320, wider for a batch holding a longer line; or ``width``, squeezing longer crops into it)."""
    if width is None:
        width = int(REC_HEIGHT * max(REC_MIN_RATIO, max(c.shape[1] / max(1, c.shape[0]) for c in crops)))
    out = np.zeros((len(crops), 3, REC_HEIGHT, width), np.float32)
    for i, crop in enumerate(crops):
        h, w = crop.shape[:2]
        rw = min(width, int(math.ceil(REC_HEIGHT * w / float(h))))
        img = cv2.resize(crop, (rw, REC_HEIGHT)).astype(np.float32).transpose(2, 0, 1) / 255
        out[i, :, :, :rw] = (img - 0.5) / 0.5
    return out


_FOLD = ctc.fold_classes(["blank", *ALPHABET])


def greedy(probs: Iterable[np.ndarray]) -> list[str]:
    """Readings of (T, 37) probabilities (a batch, or a list: T differs between batches of
    different widths), decoded like the reader decodes them."""
    return [ctc.text(ctc.decode(p, _FOLD)) for p in probs]


def fold_o(text: str) -> str:
    """US plates do not tell O from 0; neither does scoring."""
    return text.replace("O", "0")


def split(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    """(training, validation) by ``is_validation`` of each sample's scene."""
    val = [s for s in samples if is_validation(s.name)]
    return [s for s in samples if not is_validation(s.name)], val


# ------------------------------------------------------------------------------------------ model
def stock_reader(threads: int = 2) -> PPOCRReader:
    """The reader with PP-OCRv4's own recognizer alone, which finds the lines to cut."""
    from detectors.ppocr import PPOCRReader

    return PPOCRReader(threads=threads, second_recognizer=None)


def stock_recognizer() -> Path:
    return recognizers.rapidocr_model(STOCK_REC)


def _import_torch():
    # On a small shared CPU, OpenMP's default spinning wait made some steps 30x slower; the policy
    # is read once, when torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    return torch


def convert(onnx_path: Path):
    """The recognizer as a trainable torch.fx module giving logits, and its symbols (blank first).

    The ONNX graph does not convert as shipped (weights are Constant nodes; a BatchNorm behind a
    shape-dependent Reshape has unknown rank): with the height fixed to 48, onnxslim folds the
    shapes and fuses the BatchNorms, and onnx2torch converts it. onnx2torch keeps MatMul/Add
    constants (attention, LayerNorm, the head) as buffers: they become parameters; the final
    Softmax is dropped."""
    torch = _import_torch()
    import onnx
    import onnxslim
    from onnx2torch import convert as onnx_to_torch

    m = onnx.load(str(onnx_path))
    symbols = ["blank", *{p.key: p.value for p in m.metadata_props}["character"].splitlines(), " "]
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param, dims[2].dim_value, dims[3].dim_param = "N", REC_HEIGHT, "W"
    model = onnx_to_torch(onnxslim.slim(m))
    for _, module in list(model.named_modules()):
        for name, buf in list(module._buffers.items()):
            if buf is not None and buf.dtype == torch.float32 and buf.numel() > 1:
                del module._buffers[name]
                module.register_parameter(name, torch.nn.Parameter(buf.clone()))
    graph = model.graph
    output = next(n for n in graph.nodes if n.op == "output")
    softmax = output.args[0]
    assert softmax.op == "call_module" and "Softmax" in type(model.get_submodule(softmax.target)).__name__
    output.args = (softmax.args[0],)
    graph.erase_node(softmax)
    graph.lint()
    model.recompile()
    return model, symbols


def cut_head(model, symbols: Sequence[str]) -> list[int]:
    """Keeps the head's rows of blank and the plate alphabet (upper case) in place; returns them."""
    torch = _import_torch()
    rows = [0] + [list(symbols).index(c) for c in ALPHABET]
    output = next(n for n in model.graph.nodes if n.op == "output")
    matmul, bias = output.args[0].args  # logits = MatMul(x, W) + b
    weight = matmul.args[1]
    assert weight.op == "get_attr" and bias.op == "get_attr", "head is not MatMul + Add of constants"
    for node, cut in ((weight, lambda t: t[:, rows]), (bias, lambda t: t[rows])):
        module_name, attr = node.target.rsplit(".", 1)
        module = model.get_submodule(module_name)
        old = getattr(module, attr)
        delattr(module, attr)
        module.register_parameter(attr, torch.nn.Parameter(cut(old.detach()).clone()))
    return rows


def freeze_convs(model, count: int) -> list[str]:
    """Freezes the first ``count`` convolutions in graph order (24: all but the last, 480-channel
    stage); a few hundred crops cannot retrain the stem."""
    torch = _import_torch()
    convs = [n.target for n in model.graph.nodes
             if n.op == "call_module" and isinstance(model.get_submodule(n.target), torch.nn.Conv2d)]
    frozen = set(convs[:count])
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[0] in frozen:
            p.requires_grad_(False)
    return convs[:count]


def _predict(model, crops: Sequence[np.ndarray], batch: int = 32) -> list[np.ndarray]:
    torch = _import_torch()
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            out.extend(torch.softmax(model(torch.from_numpy(rec_batch(crops[i:i + batch]))), -1).numpy())
    return out


def _export(model, out: Path, crops: Sequence[np.ndarray]) -> dict[str, float]:
    """ONNX with input "x" (N, 3, 48, W) and softmax probabilities (N, T, 37), the ``character`` and
    ``name`` metadata the reader needs; checked against torch with onnxruntime. Returns the largest
    |onnxruntime - torch| per input shape."""
    torch = _import_torch()
    import onnx
    import onnxruntime as ort

    class WithSoftmax(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return torch.softmax(self.m(x), dim=-1)

    wrapped = WithSoftmax(model).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(wrapped, (torch.from_numpy(rec_batch(crops[:2])),), str(out), input_names=["x"], output_names=["probs"],
                      dynamic_axes={"x": {0: "N", 3: "W"}, "probs": {0: "N", 1: "T"}}, opset_version=17, dynamo=False)
    m = onnx.load(str(out))
    for key, value in (("character", "\n".join(ALPHABET)), ("name", MODEL_NAME)):
        m.metadata_props.add(key=key, value=value)
    onnx.save(m, str(out))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    diffs = {}
    for n, width in ((1, 320), (5, 320), (3, 200), (2, 480)):
        x = rec_batch([crops[i % len(crops)] for i in range(n)], width)
        with torch.no_grad():
            ref = wrapped(torch.from_numpy(x)).numpy()
        got = session.run(None, {"x": x})[0]
        assert got.shape == ref.shape and got.shape[2] == len(ALPHABET) + 1, (got.shape, ref.shape)
        diffs[f"{n}x{width}"] = float(np.abs(got - ref).max())
    assert max(diffs.values()) < 1e-3, diffs
    return diffs


# ---------------------------------------------------------------------------------------- training
def build_samples(crops: Path | None, scenes: Path | None, extra_crops: Path | None, share: float,
                  reader: PPOCRReader | None = None, progress: Callable[[str], None] = lambda _: None) -> dict[str, list[Sample]]:
    """All training-share samples by source: ``crops`` (seg_and_ocr), ``scenes`` (endtoend truth
    boxes), ``scenes (detected lines)`` and ``extra`` (labels.csv)."""
    sources: dict[str, list[Sample]] = {}
    if crops is not None:
        sources["crops"] = seg_and_ocr_samples(crops, share)
    if scenes is not None:
        sources["scenes"] = endtoend_samples(scenes, share)
        sources["scenes (detected lines)"] = detected_line_samples(scenes, share, reader, progress=progress)
    if extra_crops is not None:
        sources["extra"] = labelled_crops_samples(extra_crops)
    for name, samples in sources.items():
        progress(f"{name}: {len(samples)} samples")
    return sources


def train(out: Path, *, crops: Path | None, scenes: Path | None, extra_crops: Path | None = None, share: float = 0.5,
          minutes: float = 20.0, lr: float = 2e-4, batch: int = 16, seed: int = 0, us_fraction: float = 0.5,
          frozen_convs: int = 24, warmup: int = 20, val_every: int = 40, print_every: int = 10, threads: int = 2,
          max_steps: int = 0, synthetic: int = 0, synthetic_fraction: float = 0.25,
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tunes the stock recognizer for ``minutes`` of wall clock (or ``max_steps``), keeps the
    checkpoint with the best validation exact match (US and extra crops pooled, O folded to 0, ties
    by character accuracy) on
    the ``VAL_SHARE`` hash split of the training share, and exports it to ``out``. Only files and
    scenes with ``in_training_share(name, share)`` are read from ``crops`` and ``scenes``; the rest
    stays held out for ``alpr eval``. ``synthetic`` simulator plates (``synthetic_samples``) make
    ``synthetic_fraction`` of each batch; they are never validated on. Returns what the model card
    records."""
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    torch = _import_torch()
    import onnxruntime as ort

    t_start = time.monotonic()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)

    stock = stock_recognizer()
    model, symbols = convert(stock)
    reader = stock_reader(threads)
    assert list(symbols) == list(reader.engine.text_rec.postprocess_op.character), "symbols differ from rapidocr's decoder"
    cut_head(model, symbols)
    frozen = freeze_convs(model, frozen_convs)
    params = [p for p in model.parameters() if p.requires_grad]
    say(f"model: {sum(p.numel() for p in model.parameters()):,} parameters, {sum(p.numel() for p in params):,} trained")

    sources = build_samples(crops, scenes, extra_crops, share, reader, say)
    us_train, us_val, extra_train, extra_val = [], [], [], []
    for name, samples in sources.items():
        tr, va = split(samples)
        if name == "extra":
            extra_train, extra_val = tr, va[:EXTRA_VAL_MAX]
        else:
            us_train += tr
            us_val += va
    synthetic_train = synthetic_samples(synthetic, seed) if synthetic else []
    if not us_train and not extra_train:
        raise ValueError("no training samples")
    val_sets = {"us": ([band_crop(*s[1:4]) for s in us_val], [s.label for s in us_val]),
                "us detected lines": ([band_crop(*s[1:4]) for s in us_val if s.name.endswith("@line")],
                                      [s.label for s in us_val if s.name.endswith("@line")]),
                "extra": ([band_crop(*s[1:4]) for s in extra_val], [s.label for s in extra_val])}
    val_sets = {k: v for k, v in val_sets.items() if v[0]}
    data = {"sources": {k: len(v) for k, v in sources.items()}, "us_train": len(us_train), "us_val": len(us_val),
            "extra_train": len(extra_train), "extra_val": len(extra_val), "synthetic_train": len(synthetic_train)}
    say(f"data: {data}")

    # The cut head must read like the whole model folded onto the plate alphabet (as the reader decodes it).
    check = (val_sets.get("us") or val_sets["extra"])[0][:64]
    stock_session = ort.InferenceSession(str(stock), providers=["CPUExecutionProvider"])
    fold = ctc.fold_classes(symbols)
    stock_read = [ctc.text(ctc.decode(p, fold)) for p in stock_session.run(None, {"x": rec_batch(check)})[0]]
    cut_read = greedy(_predict(model, check))
    agreement = sum(a == b for a, b in zip(stock_read, cut_read)) / len(check)
    say(f"cut head reads like the stock model on {agreement:.1%} of {len(check)} validation crops")

    def validate() -> dict[str, dict[str, float]]:
        return {k: corpus_scores(greedy(_predict(model, c)), t, fold_o) for k, (c, t) in val_sets.items()}

    def key(v: dict[str, dict[str, float]]) -> tuple[float, float]:
        # US and extra validation crops pooled: a few dozen US crops alone let one lucky step win.
        pooled = [v[k] for k in ("us", "extra") if k in v]
        n = sum(s["n"] for s in pooled)
        return sum(s["exact"] * s["n"] for s in pooled) / n, sum(s["char_acc"] * s["n"] for s in pooled) / n

    v = validate()
    history = [{"step": 0, "val": v}]
    best = {"step": 0, "val": v}
    best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
    say(f"step 0: val {_brief(v)}")

    def draw() -> Sample:
        if synthetic_train and rng.random() < synthetic_fraction:
            return rng.choice(synthetic_train)
        if us_train and (not extra_train or rng.random() < us_fraction):
            return rng.choice(us_train)
        return rng.choice(extra_train)

    opt = torch.optim.Adam(params, lr=lr)
    ctc_loss = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    index = {c: i + 1 for i, c in enumerate(ALPHABET)}
    budget = minutes * 60
    t_train = time.monotonic()
    step, losses = 0, []
    while True:
        elapsed = time.monotonic() - t_train
        if elapsed >= budget or (max_steps and step >= max_steps):
            break
        # Warm-up, then cosine decay to a tenth over the time budget.
        rate = lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * elapsed / budget)))
        for group in opt.param_groups:
            group["lr"] = rate
        drawn = [draw() for _ in range(batch)]
        x = torch.from_numpy(rec_batch([augment(s.image, s.box, s.band, rng) for s in drawn]))
        targets = [[index[c] for c in s.label] for s in drawn]
        model.train()
        log_probs = model(x).log_softmax(-1).permute(1, 0, 2)  # (T, N, C)
        loss = ctc_loss(log_probs, torch.tensor(sum(targets, [])), torch.full((len(drawn),), log_probs.shape[0], dtype=torch.long),
                        torch.tensor([len(t) for t in targets]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        if step % print_every == 0:
            say(f"step {step}: loss {np.mean(losses[-print_every:]):.4f} lr {rate:.2e} "
                f"{(time.monotonic() - t_train) / step:.2f} s/step, {(time.monotonic() - t_train) / 60:.1f} min")
        if step % val_every == 0 or time.monotonic() - t_train >= budget or (max_steps and step >= max_steps):
            v = validate()
            history.append({"step": step, "loss": float(np.mean(losses[-val_every:])), "val": v})
            better = key(v) > key(best["val"])
            if better:
                best = {"step": step, "val": v}
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            say(f"step {step}: val {_brief(v)}{'  (best)' if better else ''}")
    train_minutes = (time.monotonic() - t_train) / 60
    model.load_state_dict(best_state)
    say(f"trained {step} steps in {train_minutes:.1f} min; best step {best['step']}: val {_brief(best['val'])}")

    diffs = _export(model, out, check)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    crops_all, _ = val_sets.get("us") or val_sets["extra"]
    onnx_read = [r for i in range(0, len(crops_all), 32)
                 for r in greedy(session.run(None, {"x": rec_batch(crops_all[i:i + 32])})[0])]
    torch_read = greedy(_predict(model, crops_all))
    assert onnx_read == torch_read, "onnxruntime reads the validation crops differently from torch"
    say(f"exported {out}; max |onnxruntime - torch| {max(diffs.values()):.1e}, same readings on {len(crops_all)} crops")

    import onnx2torch

    return {"data": data, "share": share, "val_share": VAL_SHARE, "crops": str(crops) if crops else None,
            "scenes": str(scenes) if scenes else None, "extra_crops": str(extra_crops) if extra_crops else None,
            "steps": step, "minutes": minutes, "train_minutes": round(train_minutes, 2),
            "total_minutes": round((time.monotonic() - t_start) / 60, 2), "lr": lr, "warmup": warmup, "batch": batch,
            "seed": seed, "us_fraction": us_fraction, "synthetic_fraction": synthetic_fraction if synthetic else 0.0,
            "frozen_convs": len(frozen),
            "trained_parameters": sum(p.numel() for p in params), "cut_head_agreement": round(agreement, 4),
            "best_step": best["step"], "val": best["val"], "val_at_start": history[0]["val"], "history": history,
            "onnx_max_abs_diff": diffs, "base": f"{STOCK_REC} (rapidocr-onnxruntime)", "torch": torch.__version__,
            "onnx2torch": getattr(onnx2torch, "__version__", "1.5.15"), "python": platform.python_version()}


def _brief(v: dict[str, dict[str, float]]) -> str:
    return " | ".join(f"{k} exact {s['exact']:.3f} char {s['char_acc']:.3f} (n {s['n']})" for k, s in v.items())


def write_card(out: Path, result: dict[str, Any], command: str) -> Path:
    """``NAME.json`` (for programs) and ``NAME.md`` (for people) beside the weights: data used and
    held out, settings, validation metrics and the file's sha256, so a run can be repeated."""
    held_out = []
    if result.get("crops"):
        held_out.append(f"{result['crops']}: rows whose file is not in_training_share(file, {result['share']})")
    if result.get("scenes"):
        held_out.append(f"{result['scenes']}: scenes whose stem is not in_training_share(stem, {result['share']})")
    card = {
        "model": out.name, "name": MODEL_NAME, "architecture": "PP-OCRv4 rec (SVTR-LCNet), CTC head cut to blank + 0-9 A-Z",
        "classes": ["blank", *ALPHABET], "input": "x: (N, 3, 48, W) float32, (BGR/255 - 0.5)/0.5, zero padded right",
        "output": "probs: (N, W/8, 37) softmax", "sha256": sha256(out), "bytes": out.stat().st_size,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **{k: v for k, v in result.items() if k != "history"}, "held_out": held_out, "command": command,
        "history": result.get("history", []),
        "notes": f"Validation is the {result.get('val_share', VAL_SHARE):.0%} hash split (in_training_share('val/' + "
                 "scene, 0.2)) of the training share, used to pick the checkpoint; report reading accuracy with "
                 "`alpr eval` on the held-out share only.",
    }
    card_json = out.with_suffix(".json")
    card_json.write_text(json.dumps(card, indent=2) + "\n")
    val = result["val"]
    lines = [f"# Plate recognizer `{out.name}`", "",
             f"- Base: {card['base']}, converted with onnx2torch {card['onnx2torch']}, head cut to 37 classes "
             f"(blank + 0-9 A-Z), first {result['frozen_convs']} convolutions frozen, "
             f"{result['trained_parameters']:,} parameters trained.",
             f"- Trained {result['steps']} steps in {result['train_minutes']} min (budget {result['minutes']} min) on CPU: "
             f"batch {result['batch']}, Adam lr {result['lr']} (warm-up {result['warmup']} steps, cosine to a tenth), "
             f"seed {result['seed']}, US share of each batch {result['us_fraction']}, simulated plates' share "
             f"{result.get('synthetic_fraction', 0.0)} ({result['data'].get('synthetic_train', 0)} drawn); "
             f"best step {result['best_step']}.",
             f"- Command: `{command}`",
             f"- sha256: `{card['sha256']}` ({card['bytes']:,} bytes)",
             "", "## Data (training share)", "",
             *(f"- {src}: {n} samples" for src, n in result["data"]["sources"].items()),
             f"- US train {result['data']['us_train']}, US validation {result['data']['us_val']}; extra train "
             f"{result['data']['extra_train']}, extra validation {result['data']['extra_val']}",
             *(f"- held out (never trained or tuned on): {h}" for h in held_out),
             "", f"## Validation ({result.get('val_share', VAL_SHARE):.0%} of the training share; O folded to 0)", "",
             *(f"- {k}: exact {s['exact']:.3f}, character accuracy {s['char_acc']:.3f} (n {s['n']}); at step 0 "
               f"{result['val_at_start'].get(k, {}).get('exact', float('nan')):.3f}" for k, s in val.items()), ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    return card_json
