"""Choosing the reader named in the configuration."""

from __future__ import annotations

from alpr.config import Config, ConfigError
from detectors.base import PlateReader

READERS = ("ppocr",)


def make_reader(cfg: Config, engine: str | None = None) -> PlateReader:
    engine = engine or cfg.reader.engine
    if engine == "ppocr":
        from detectors.ppocr import PPOCRReader

        return PPOCRReader(cfg.reader.det_max_side, cfg.reader.min_confidence, cfg.reader.intra_op_threads)
    raise ConfigError(f"reader.engine: unknown engine {engine!r} (known: {', '.join(READERS)})")
