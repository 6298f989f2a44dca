"""Choosing the reader named in the configuration."""

from __future__ import annotations

from pathlib import Path

from alpr.config import READER_ENGINES, Config, ConfigError
from alpr.domain.plates import PlateFormat, parse_layouts
from detectors import recognizers
from detectors.base import PlateReader

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


def make_reader(cfg: Config, engine: str | None = None) -> PlateReader:
    engine = engine or cfg.reader.engine
    if engine == "ppocr":
        from detectors.ppocr import PPOCRReader

        return PPOCRReader(cfg.reader.det_max_side, cfg.reader.min_confidence, cfg.reader.intra_op_threads,
                           cfg.reader.plate_aspect, recognizer(cfg), second_recognizer(cfg), cfg.reader.runtime,
                           plate_format(cfg))
    if engine in ("yolo", "cascade"):
        from detectors.yolo import BUNDLED, YoloPPOCRReader

        weights = Path(cfg.reader.detector_weights) if cfg.reader.detector_weights else BUNDLED
        if not weights.is_file():
            raise ConfigError(f"reader.detector_weights: no such file {weights} (train one with `alpr train detector`)")
        fast = YoloPPOCRReader(weights, cfg.reader.det_threshold, cfg.reader.min_confidence, cfg.reader.intra_op_threads,
                               recognizer(cfg), second_recognizer(cfg), cfg.reader.runtime, plate_format(cfg),
                               cfg.reader.det_max_side, cfg.reader.plate_aspect, cfg.reader.vanity_score)
        if engine == "yolo":
            return fast
        from detectors.cascade import CascadeReader

        return CascadeReader(fast, cfg.reader.accept_confidence)
    raise ConfigError(f"reader.engine: unknown engine {engine!r} (known: {', '.join(READERS)})")
