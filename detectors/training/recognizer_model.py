"""The plate recognizer as a model: PP-OCRv4's text recognizer from rapidocr-onnxruntime converted
to torch, its 6,625-class head cut to the 37 plate classes, greedy CTC decoding, and ONNX export.
Needs the ``train`` extra (torch, onnx, onnxslim, onnx2torch), imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from detectors import ctc, recognizers
from detectors.training.recognizer_data import ALPHABET, REC_HEIGHT, rec_batch

MODEL_NAME = "ppocr-v4-plate"
STOCK_REC = "ch_PP-OCRv4_rec_infer.onnx"  # inside rapidocr_onnxruntime/models
_FOLD = ctc.fold_classes(["blank", *ALPHABET])


def greedy(probs: Iterable[np.ndarray]) -> list[str]:
    """Readings of (T, 37) probabilities (a batch, or a list: T differs between batches of
    different widths), decoded like the reader decodes them."""
    return [ctc.text(ctc.decode(p, _FOLD)) for p in probs]


def fold_o(text: str) -> str:
    """US plates do not tell O from 0; neither does scoring."""
    return text.replace("O", "0")


def stock_recognizer() -> Path:
    return recognizers.rapidocr_model(STOCK_REC)


def import_torch():
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
    torch = import_torch()
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
    torch = import_torch()
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
    torch = import_torch()
    convs = [n.target for n in model.graph.nodes
             if n.op == "call_module" and isinstance(model.get_submodule(n.target), torch.nn.Conv2d)]
    frozen = set(convs[:count])
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[0] in frozen:
            p.requires_grad_(False)
    return convs[:count]


def predict(model, crops: Sequence[np.ndarray], batch: int = 32) -> list[np.ndarray]:
    torch = import_torch()
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            out.extend(torch.softmax(model(torch.from_numpy(rec_batch(crops[i:i + batch]))), -1).numpy())
    return out


def export(model, out: Path, crops: Sequence[np.ndarray]) -> dict[str, float]:
    """ONNX with input "x" (N, 3, 48, W) and softmax probabilities (N, T, 37), the ``character`` and
    ``name`` metadata the reader needs; checked against torch with onnxruntime. Returns the largest
    |onnxruntime - torch| per input shape."""
    torch = import_torch()
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
