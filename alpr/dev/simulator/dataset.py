"""Simulated frames written as an image dataset in the openalpr-benchmarks ``endtoend`` format.

Each ``NAME.jpg`` gets ``NAME.txt`` with one line per plate:
``NAME.jpg<TAB>x<TAB>y<TAB>width<TAB>height<TAB>PLATE``; frames without a plate get an empty
file (hard negatives for a detector).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from alpr.dev.simulator.traffic import SimFrame
from alpr.messages.frames import encode_jpeg


def box_of(quad: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0 = np.clip(np.floor(quad.min(0)), 0, [width - 1, height - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(quad.max(0)), 0, [width, height]).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def write_dataset(frames: Iterator[SimFrame], out_dir: Path, count: int,
                  progress: Callable[[int], None] | None = None) -> dict[str, int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = {"images": 0, "plates": 0, "no_plate": 0}
    for i in range(count):
        f = next(frames)
        name = f"sim-{i:06d}"
        (out_dir / f"{name}.jpg").write_bytes(encode_jpeg(f.image))
        h, w = f.image.shape[:2]
        lines = []
        for plate, quad in f.plates:
            x, y, bw, bh = box_of(quad, w, h)
            lines.append(f"{name}.jpg\t{x}\t{y}\t{bw}\t{bh}\t{plate}")
        (out_dir / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
        stats["images"] += 1
        stats["plates"] += len(lines)
        stats["no_plate"] += not lines
        if progress:
            progress(i + 1)
    return stats
