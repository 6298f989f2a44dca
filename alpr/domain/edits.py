"""Edit distance one, in one linear pass: the test that joins a misread to its vehicle pass and a
slightly misread state name to its state."""

from __future__ import annotations


def within_one_edit(a: str, b: str) -> bool:
    """Edit distance <= 1 (this runs for every read against every open pass)."""
    if len(a) == len(b):
        if a == b:
            return True
        diff = 0
        for x, y in zip(a, b):
            if x != y:
                diff += 1
                if diff > 1:
                    return False
        return True
    if abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long_)) if x != y), len(short))
    return short[i:] == long_[i + 1:]
