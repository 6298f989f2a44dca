"""What a benchmark ran on, for its table and JSON line: figures mean little without the CPU."""

from __future__ import annotations

import os
import platform


def cpu() -> str:
    """The CPU model and the cores this process may use, e.g. "Intel(R) Xeon(R) Platinum 8481C, 2 cores"."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            name = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"
