"""Choosing the reader named in the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alpr.config import READER_ENGINES, Config, ConfigError
from alpr.domain.plates import PlateFormat, parse_layouts
from detectors import recognizers
from detectors.base import PlateReader

if TYPE_CHECKING:
    from detectors.ppocr import PPOCRReader
    from detectors.state_reader import StateReader

READERS = READER_ENGINES


def recognizer(cfg: Config) -> Path | None:
    """The recognizer weights named in the configuration; None for PP-OCRv4's own."""
    if not cfg.reader.recognizer_weights:
        return None
    path = Path(cfg.reader.recognizer_weights)
    if not path.is_file():
        raise ConfigError(f"reader.recognizer_weights: no such file {path} (train one with `alpr train recognizer`)")
    return path


def second_recognizer(cfg: Config) -> str | None:
    """The second recognizer named in the configuration; None for none."""
    name = cfg.reader.second_recognizer
    if name and name not in recognizers.NAMED and not Path(name).is_file():
        raise ConfigError(f"reader.second_recognizer: {name!r} is neither a file nor one of {', '.join(recognizers.NAMED)}")
    return name or None


def plate_format(cfg: Config) -> PlateFormat:
    return PlateFormat(cfg.reader.o_is_zero, parse_layouts(cfg.reader.plate_layouts))


def state_weights(cfg: Config) -> Path | None:
    """The state classifier named in the configuration; None for reading no state."""
    from detectors.state_reader import BUNDLED

    name = cfg.reader.state_weights
    if name == "none":
        return None
    path = Path(name) if name else BUNDLED
    if not path.is_file():
        raise ConfigError(f"reader.state_weights: no such file {path} (train one with `alpr train state`, or \"none\")")
    return path


def make_reader(cfg: Config, engine: str | None = None) -> PlateReader:
    """The configured plate reader, its plates carrying their state unless reader.state_weights is "none"."""
    reader, ppocr = _plate_reader(cfg, engine or cfg.reader.engine)
    weights = state_weights(cfg)
    if weights is None:
        return reader
    from detectors.state_reader import WithStates

    return WithStates(reader, _state_reader(cfg, weights, ppocr), cfg.flow.pass_min_confidence)


def make_state_reader(cfg: Config) -> StateReader:
    """The state reader alone (`alpr eval --states`), with the configured runtime and recognizer."""
    from detectors.ppocr import PPOCRReader
    from detectors.state_reader import BUNDLED

    ppocr = PPOCRReader(threads=cfg.reader.intra_op_threads, recognizer=recognizer(cfg), second_recognizer=None,
                        runtime=cfg.reader.runtime)
    return _state_reader(cfg, state_weights(cfg) or BUNDLED, ppocr)


def _state_reader(cfg: Config, weights: Path, ppocr: PPOCRReader) -> StateReader:
    from detectors.state_reader import StateClassifier, StateReader

    classifier = StateClassifier(weights, cfg.reader.intra_op_threads, cfg.reader.runtime)
    return StateReader(classifier, ppocr.read_text if cfg.reader.state_text else None)


def _plate_reader(cfg: Config, engine: str) -> tuple[PlateReader, PPOCRReader]:
    """The plate reader, and the PP-OCR reader inside it whose recognizer also reads a plate's text lines."""
    if engine == "ppocr":
        from detectors.ppocr import PPOCRReader

        ppocr = PPOCRReader(cfg.reader.det_max_side, cfg.reader.min_confidence, cfg.reader.intra_op_threads,
                            cfg.reader.plate_aspect, recognizer(cfg), second_recognizer(cfg), cfg.reader.runtime,
                            plate_format(cfg))
        return ppocr, ppocr
    if engine in ("yolo", "cascade"):
        from detectors.yolo import BUNDLED, YoloPPOCRReader

        weights = Path(cfg.reader.detector_weights) if cfg.reader.detector_weights else BUNDLED
        if not weights.is_file():
            raise ConfigError(f"reader.detector_weights: no such file {weights} (train one with `alpr train detector`)")
        fast = YoloPPOCRReader(weights, cfg.reader.det_threshold, cfg.reader.min_confidence, cfg.reader.intra_op_threads,
                               recognizer(cfg), second_recognizer(cfg), cfg.reader.runtime, plate_format(cfg),
                               cfg.reader.det_max_side, cfg.reader.plate_aspect, cfg.reader.vanity_score,
                               cfg.reader.near_score if engine == "cascade" else 1.0)
        if engine == "yolo":
            return fast, fast.recognizer
        from detectors.cascade import CascadeReader

        return (CascadeReader(fast, cfg.reader.accept_confidence, cfg.reader.near_score, cfg.reader.empty_gate_side),
                fast.recognizer)
    raise ConfigError(f"reader.engine: unknown engine {engine!r} (known: {', '.join(READERS)})")
