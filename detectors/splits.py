"""The fixed, name-based splits of the development data: what a model trains on and what stays held
out is decided by a hash of each file's name, so every run and every evaluation agree."""

from __future__ import annotations

import hashlib

SPLIT_SHARE = 0.5  # of endtoend/us and seg_and_ocr, the share the bundled models trained on


def in_training_share(name: str, share: float) -> bool:
    """A fixed, name-based split of a folder: the same images are trained on in every run."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share
