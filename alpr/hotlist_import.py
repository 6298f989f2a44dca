"""Parsing hot-list files into entries: CSV with a column mapping, and the state's fixed-width feed.

Pure parsing, no I/O beyond the lines given: every bad row is reported with its line number and
left out, and the caller decides whether to load the rest (the list is swapped in whole or not at all).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from alpr.hotlist import NewEntry
from alpr.matching import is_pattern, normalize_pattern, validate_pattern

MAX_PLATE_LEN = 10


@dataclass
class Parsed:
    entries: list[NewEntry] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    rows: int = 0


def check_plate(raw: str) -> str:
    """Normalised plate or BOLO pattern; ValueError says why it is unusable."""
    plate = normalize_pattern(raw)
    if not plate:
        raise ValueError(f"plate {raw!r} has no letters or digits")
    if len(plate.replace("*", "")) > MAX_PLATE_LEN:
        raise ValueError(f"plate {raw!r} is longer than {MAX_PLATE_LEN} characters")
    if is_pattern(plate):
        validate_pattern(plate)
    return plate


def _date(text: str) -> datetime:
    d = datetime.fromisoformat(text)
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def parse_csv(lines: Iterable[str], mapping: Mapping[str, str] | None = None, expires_field: str = "expires") -> Parsed:
    """CSV with a header row. ``mapping`` is field -> column; without it every column is a field
    named after its lower-cased header. The ``plate`` field is required; an ``expires`` field (ISO
    date or time) sets when a BOLO entry ends; every other field is sealed."""
    out = Parsed()
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        out.errors.append((1, "empty file: no header row"))
        return out
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    wanted = {k.lower(): v.strip().lower() for k, v in mapping.items()} if mapping else {h: h for h in index}
    missing = [col for col in wanted.values() if col not in index]
    if missing or "plate" not in wanted:
        why = f"columns not in the header: {', '.join(missing)}" if missing else "no 'plate' column (use --map plate=COLUMN)"
        out.errors.append((1, why))
        return out
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        out.rows += 1
        if len(row) != len(header):
            out.errors.append((line, f"{len(row)} columns, header has {len(header)}"))
            continue
        values = {f: row[index[col]].strip() for f, col in wanted.items()}
        try:
            plate = check_plate(values.pop("plate"))
            expires = values.pop(expires_field, "")
            out.entries.append(NewEntry(plate, {k: v for k, v in values.items() if v}, _date(expires) if expires else None))
        except ValueError as exc:
            out.errors.append((line, str(exc)))
    return out


# The state feed record, 72 characters, documented in infra/hotlists/state-feed.md.
STATE_FEED = (
    ("plate", 0, 10),
    ("plate_state", 10, 12),
    ("plate_type", 12, 14),
    ("vehicle_year", 14, 18),
    ("vehicle_make", 18, 22),
    ("vehicle_model", 22, 30),
    ("vehicle_colour", 30, 33),
    ("case_number", 33, 53),
    ("agency_ori", 53, 62),
    ("entry_date", 62, 70),
    ("reason", 70, 72),
)
STATE_FEED_LENGTH = 72
REASONS = {"SV": "stolen vehicle", "SP": "stolen plate", "FV": "felony vehicle", "WR": "wanted person"}


def parse_state_feed(lines: Iterable[str]) -> Parsed:
    out = Parsed()
    for line_no, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        out.rows += 1
        if len(line) != STATE_FEED_LENGTH:
            out.errors.append((line_no, f"record is {len(line)} characters, expected {STATE_FEED_LENGTH}"))
            continue
        rec = {name: line[a:b].strip() for name, a, b in STATE_FEED}
        try:
            plate = check_plate(rec.pop("plate"))
            if is_pattern(plate):
                raise ValueError("wildcards are not allowed in the state feed")
            if not (len(rec["plate_state"]) == 2 and rec["plate_state"].isalpha()):
                raise ValueError(f"plate_state {rec['plate_state']!r} is not a two-letter state code")
            if rec["vehicle_year"] and not rec["vehicle_year"].isdigit():
                raise ValueError(f"vehicle_year {rec['vehicle_year']!r} is not a year")
            d = rec["entry_date"]
            try:  # by hand: strptime would be the slowest step of a million-row import
                if len(d) != 8 or not d.isdigit():
                    raise ValueError(d)
                rec["entry_date"] = date(int(d[:4]), int(d[4:6]), int(d[6:])).isoformat()
            except ValueError as exc:
                raise ValueError(f"entry_date {d!r} is not YYYYMMDD") from exc
            if rec["reason"] not in REASONS:
                raise ValueError(f"reason {rec['reason']!r} is not one of {', '.join(REASONS)}")
            rec["reason"] = REASONS[rec["reason"]]
            out.entries.append(NewEntry(plate, {k: v for k, v in rec.items() if v}))
        except ValueError as exc:
            out.errors.append((line_no, str(exc)))
    return out
