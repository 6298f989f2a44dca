"""Where the ONNX models run: OpenVINO or ONNX Runtime, the same ONNX files either way.

Measured on these AMD EPYC cores, one thread, side by side: OpenVINO ran PP-OCRv4's text detector
on a 1280x736 frame in 450 ms against 607 ms and its recognizer on a batch of six lines in 319 ms
against 497 ms, with outputs within 1e-5 of ONNX Runtime's; PP-OCRv6 small and the YOLO detector ran
equally fast on both. ONNX Runtime stays for platforms OpenVINO does not serve.

"openvino" computes in the precision OpenVINO picks for the CPU: bfloat16 on Intel cores with AMX,
float32 elsewhere (AMD EPYC, older Intel). On AMX cores that ran the cascade reader about 2x faster
than float32 and read the same plates on the training shares of the development data (624 crops,
50 US scenes; detection boxes alike on 158 scenes), so it is the default; "openvino-f32" holds
OpenVINO to float32 everywhere. Each model names the precision it runs in (``precision``). Only
OpenVINO's inference core is used; its telemetry belongs to the model-conversion tools, which are
never called.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from alpr.config import READER_RUNTIMES as RUNTIMES

OPENVINO, OPENVINO_F32, ONNXRUNTIME = RUNTIMES


class Model(Protocol):
    """One loaded model: its first input in, its first output out."""

    input_shape: tuple[int | None, ...]  # None where the size is dynamic
    output_shape: tuple[int | None, ...]
    metadata: dict[str, str]  # the ONNX file's metadata_props (a recognizer's ``character`` list)
    precision: str  # what it computes in: "f32", "bf16"

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class OnnxRuntimeModel:
    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.input_shape = tuple(d if isinstance(d, int) else None for d in self.session.get_inputs()[0].shape)
        self.output_shape = tuple(d if isinstance(d, int) else None for d in self.session.get_outputs()[0].shape)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.precision = "f32"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: x})[0]


class OpenVinoModel:
    def __init__(self, path: Path, threads: int, precision: str = ""):
        """``precision``: "" for OpenVINO's choice (bfloat16 where the CPU has AMX), or "f32"."""
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(path))
        info = model.get_rt_info()
        self.metadata = {k: v.astype(str) for k, v in info["framework"].items()} if "framework" in info else {}
        self.input_shape, self.output_shape = _shape(model.input(0)), _shape(model.output(0))
        # No pinning: OpenVINO pins each process's inference threads from the first core on, so every
        # process of a machine ran its models on the same core (two processes read as fast as one).
        settings = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}
        if precision:
            settings["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = core.compile_model(model, "CPU", settings)
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self._local = threading.local()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # An infer request runs one inference at a time, and Bytewax workers of one process are threads
        # sharing this reader: each thread gets its own request. Its output tensor is reused by the
        # next call, so the caller gets a copy.
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request.infer({0: x})[0].copy()


def _shape(port) -> tuple[int | None, ...]:
    return tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())


def load_model(path: Path, threads: int, runtime: str = OPENVINO) -> Model:
    if runtime == OPENVINO:
        return OpenVinoModel(path, threads)
    if runtime == OPENVINO_F32:
        return OpenVinoModel(path, threads, precision="f32")
    if runtime == ONNXRUNTIME:
        return OnnxRuntimeModel(path, threads)
    raise ValueError(f"unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")
