"""Parsing hot-list files into entries: CSV with a column mapping, and the state's fixed-width feed.

Pure parsing, no I/O: the caller reads the file's bytes, ``decode`` turns them into text (or says
why it cannot), and the parsers report every bad row, every row left out and every plate changed
beyond case, spaces and dashes with its line number. The caller decides whether to load the rest
(the list is swapped in whole or not at all).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from alpr.domain.matching import is_pattern, normalize_pattern, validate_pattern
from alpr.domain.states import state_code
from alpr.domain.types import NewEntry

MAX_PLATE_LEN = 10


@dataclass
class Parsed:
    entries: list[NewEntry] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, why): bad rows, left out
    expired: list[tuple[int, str]] = field(default_factory=list)  # rows whose entry has already ended, left out
    altered: list[tuple[int, str]] = field(default_factory=list)  # rows loaded with a plate changed beyond case/spaces/dashes
    rows: int = 0


class FileError(ValueError):
    """The file as a whole cannot be read (encoding); the message says what to do."""


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode(data: bytes, encoding: str | None = None) -> str:
    """The file's text: UTF-8 with or without a byte-order mark, or UTF-16 with one, unless
    ``encoding`` names another. Undecodable bytes are refused with their position, never replaced,
    so a Latin-1 file cannot load as silently corrupted text."""
    if encoding is None:
        encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    elif codecs.lookup(encoding).name == "utf-8":  # LookupError for an unknown name
        encoding = "utf-8-sig"  # a BOM is not part of the first header
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        hint = ": give --encoding latin-1 if the file is Latin-1" if encoding.startswith("utf-8") else ""
        raise FileError(f"not {encoding.removesuffix('-sig').upper()} at byte {exc.start} (line {line}){hint}") from None


def lines_of(text: str) -> io.StringIO:
    """Lines with their endings untranslated, as the csv module wants them."""
    return io.StringIO(text, newline="")


_CASE_SPACE_DASH = re.compile(r"[\s-]")


def altered(raw: str, plate: str) -> str | None:
    """Why loading ``raw`` as ``plate`` changed more than case, spaces and dashes; None when it did not."""
    if _CASE_SPACE_DASH.sub("", raw).upper() == plate:
        return None
    return f"plate {raw!r} loaded as {plate!r}"


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


STATE_FIELD = "plate_state"


def check_state(raw: str) -> str:
    """The issuing state's USPS code ("" for none given); ValueError for text that names no state."""
    code = state_code(raw)
    if raw.strip() and not code:
        raise ValueError(f"plate_state {raw!r} is not a US state code or name")
    return code


def _date(text: str) -> datetime:
    d = datetime.fromisoformat(text)
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _rows(reader: csv._reader) -> Iterator[tuple[int, list[str] | str]]:
    """(line number, cells), or (line number, why) for a record the csv module cannot read (a field
    over its limit): that record is left out and reading goes on with the next line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = str(exc)
            if "field limit" in why:
                why = f"a field is longer than {csv.field_size_limit()} characters"
            yield reader.line_num, why
            continue
        yield reader.line_num, row


def parse_csv(lines: Iterable[str], mapping: Mapping[str, str] | None = None, expires_field: str = "expires",
              now: datetime | None = None) -> Parsed:
    """CSV with a header row. ``mapping`` is field -> column; without it every column is a field
    named after its lower-cased header. The ``plate`` field is required; a ``plate_state`` field
    (USPS code or state name) is the issuing state, kept in clear beside the plate; an ``expires``
    field (ISO date or time) sets when a BOLO entry ends, and an entry already ended at ``now`` is
    left out; every other field is sealed."""
    out = Parsed()
    now = now or datetime.now(timezone.utc)
    rows = _rows(csv.reader(lines))
    first = next(rows, None)
    if first is None:
        out.errors.append((1, "empty file: no header row"))
        return out
    if isinstance(first[1], str):
        out.errors.append((first[0], f"header: {first[1]}"))
        return out
    header = first[1]
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    wanted = {k.lower(): v.strip().lower() for k, v in mapping.items()} if mapping else {h: h for h in index}
    missing = [col for col in wanted.values() if col not in index]
    if missing or "plate" not in wanted:
        why = f"columns not in the header: {', '.join(missing)}" if missing else "no 'plate' column (use --map plate=COLUMN)"
        out.errors.append((1, why))
        return out
    for line, row in rows:
        if isinstance(row, str):
            out.rows += 1
            out.errors.append((line, row))
            continue
        if not any(cell.strip() for cell in row):
            continue
        out.rows += 1
        if len(row) != len(header):
            out.errors.append((line, f"{len(row)} columns, header has {len(header)}"))
            continue
        values = {f: row[index[col]].strip() for f, col in wanted.items()}
        try:
            raw = values.pop("plate")
            plate = check_plate(raw)
            text = values.pop(expires_field, "")
            expires = _date(text) if text else None
            state = check_state(values.pop(STATE_FIELD, ""))
        except ValueError as exc:
            out.errors.append((line, str(exc)))
            continue
        if expires is not None and expires <= now:
            out.expired.append((line, f"entry for {plate} ended at {expires.isoformat()}"))
            continue
        if why := altered(raw, plate):
            out.altered.append((line, why))
        out.entries.append(NewEntry(plate, {k: v for k, v in values.items() if v}, expires, state))
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
        plate_text = rec.pop("plate")
        try:
            plate = check_plate(plate_text)
            if is_pattern(plate):
                raise ValueError("wildcards are not allowed in the state feed")
            state = check_state(rec.pop("plate_state"))
            if not state:
                raise ValueError("plate_state is blank: the feed names the issuing state of every plate")
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
        except ValueError as exc:
            out.errors.append((line_no, str(exc)))
            continue
        if why := altered(plate_text, plate):
            out.altered.append((line_no, why))
        out.entries.append(NewEntry(plate, {k: v for k, v in rec.items() if v}, state=state))
    return out
