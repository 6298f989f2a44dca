"""Reading the issuing state from a plate crop, two ways combined:

- a small CNN trained by `alpr train state` on the states' official specimens and real crops (its
  model card is beside the bundled file), run on ``reader.runtime`` like every model here: it sees
  the whole plate (the printed name and slogan, colours, graphics, layout);
- the text of the plate's top and bottom lines, read by PP-OCR's recognizer: a state name or slogan
  found there (``alpr.domain.states.state_named``) puts that state first.

On the held-out real crops the CNN alone put the right state first on 75%, with the text 94%: the
text named a state on 85% of them and was right every time (figures in docs/experiments.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from alpr.domain.boxes import padded
from alpr.domain.states import STATES, StateGuess, guess_from_probs, state_named, with_named
from detectors.base import PlateReader, ReaderResult
from detectors.runtime import OPENVINO, load_model

BUNDLED = Path(__file__).parent / "models" / "state_cnn_64x128.onnx"
INPUT_HW = (64, 128)  # height, width: a US plate's 1:2
# The rows of a plate crop that hold its state name (top) and slogan or county (bottom).
TEXT_BANDS = ((0.0, 0.3), (0.75, 1.0))
# On the validation split (510 specimens, 25 real crops) the classifier was right on all 402 plates it
# was at least this sure of; where it is less sure, the plate's text is read.
CLASSIFIER_SURE = 0.8
# The classifier sees the plate with a little of its surroundings, as the real crops it learnt from.
STATE_PAD = (0.04, 0.06)

TextReader = Callable[[Sequence[np.ndarray]], list[str]]  # image crops -> the text read in each


def state_batch(crops: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 3, 64, 128) float32 RGB in [-1, 1] from BGR plate crops of any size."""
    h, w = INPUT_HW
    out = np.empty((len(crops), 3, h, w), np.float32)
    for i, crop in enumerate(crops):
        small = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if crop.shape[1] > w else cv2.INTER_LINEAR)
        out[i] = (small[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 127.5) - 1.0
    return out


class StateClassifier:
    """The CNN: plate crops in, a ``StateGuess`` (top three with probabilities) each."""

    def __init__(self, weights: Path = BUNDLED, threads: int = 1, runtime: str = OPENVINO):
        self.model = load_model(weights, threads, runtime)
        self.runtime = runtime
        listed = self.model.metadata.get("states", "")
        self.states = tuple(listed.split(",")) if listed else STATES
        if set(self.states) - set(STATES):
            raise ValueError(f"{weights}: unknown states in the model's metadata: {sorted(set(self.states) - set(STATES))}")

    def __call__(self, crops: Sequence[np.ndarray]) -> list[StateGuess]:
        if not crops:
            return []
        return [guess_from_probs(p, self.states) for p in self.model(state_batch(crops))]


def text_bands(crop: np.ndarray) -> list[np.ndarray]:
    """The crop's top and bottom lines (the recognizer pads each to its 320 x 48 input)."""
    h = crop.shape[0]
    return [crop[int(a * h):max(int(a * h) + 1, int(b * h))] for a, b in TEXT_BANDS]


class StateReader:
    """The classifier, corrected where a plate's own text names its state. Each line of text costs a
    recognizer pass (about 11 ms on one core), so the text is read only where the classifier is less
    than ``CLASSIFIER_SURE`` sure, the top line first (most plates print the state's name there) and
    the bottom line (a slogan) only where the top one named no state."""

    def __init__(self, classifier: StateClassifier, text: TextReader | None = None):
        self.classifier, self.text = classifier, text
        self.name = "state-cnn+text" if text else "state-cnn"
        self.runtime, self.precision = classifier.runtime, classifier.model.precision

    def read(self, crops: Sequence[np.ndarray], worth_text: Sequence[bool] | None = None) -> list[StateGuess]:
        """``worth_text``: per crop, whether its text may be read (default: every crop's)."""
        guesses = self.classifier(crops)
        unsure = [i for i, g in enumerate(guesses)
                  if g.confidence < CLASSIFIER_SURE and (worth_text is None or worth_text[i])]
        if self.text is None or not unsure:
            return guesses
        bands = {i: text_bands(crops[i]) for i in unsure}
        tops = dict(zip(unsure, self.text([bands[i][0] for i in unsure])))
        named = {i: state_named([tops[i]]) for i in unsure}
        unnamed = [i for i in unsure if not named[i]]
        for i, bottom in zip(unnamed, self.text([bands[i][1] for i in unnamed]) if unnamed else []):
            named[i] = state_named([tops[i], bottom])
        for i in unsure:
            guesses[i] = with_named(guesses[i], named[i])
        return guesses


class WithStates:
    """A plate reader whose plates also carry their issuing state: every plate found in a frame is
    cut (``alpr.domain.boxes.padded``) and its state read, all of a frame's plates in one batch. The
    plate's text is read only for plates read at least ``text_min_confidence`` sure (the flow's
    ``pass_min_confidence``): weaker reads raise no hit and only vote in a pass, so the classifier's
    guess serves them."""

    def __init__(self, reader: PlateReader, states: StateReader, text_min_confidence: float = 0.0):
        self.reader, self.states = reader, states
        self.text_min_confidence = text_min_confidence
        self.name, self.detector_name, self.ocr_name = reader.name, reader.detector_name, reader.ocr_name
        self.runtime, self.precision = reader.runtime, reader.precision

    def read(self, image: np.ndarray) -> ReaderResult:
        result = self.reader.read(image)
        if not result.plates:
            return result
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        crops = []
        for p in result.plates:
            x0, y0, x1, y1 = padded(p.box.x, p.box.y, p.box.x + p.box.w, p.box.y + p.box.h, *STATE_PAD, w, h)
            crops.append(image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)])
        guesses = self.states.read(crops, [p.confidence >= self.text_min_confidence for p in result.plates])
        timings = {**result.timings_ms, "state": (time.perf_counter() - t0) * 1000}
        return ReaderResult([replace(p, state=g) for p, g in zip(result.plates, guesses)], timings)

    def recognize(self, crop: np.ndarray) -> list[tuple[str, float]]:
        return self.reader.recognize(crop)

    def state_of(self, crop: np.ndarray) -> StateGuess:
        """The state of one tight plate crop (``alpr eval --crops``)."""
        return self.states.read([crop])[0]
