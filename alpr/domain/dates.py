"""Calendar arithmetic the policy needs: N years before or after a day (retention, certifications, the file of requests)."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

D = TypeVar("D", bound=date)  # a date or a datetime


def add_years(t: D, years: int) -> D:
    """``t`` moved by whole years (negative: back); 29 February falls on the 28th in other years."""
    try:
        return t.replace(year=t.year + years)
    except ValueError:
        return t.replace(year=t.year + years, day=28)
