"""Investigative search over stored reads: query rules (pure) and the ClickHouse query that runs them.

Exact plates use the primary key of ``reads`` (plate, captured_at). Partial (``?`` one character,
``*`` any run) and misread-tolerant plates are first resolved on the small ``plates`` vocabulary
(one row per distinct plate, with an n-gram skip index and the confusable-folded form), and the
reads are then fetched by primary key for the plates found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from alpr.domain import plates
from alpr.domain.matching import fold, is_pattern, normalize_pattern, validate_pattern
from alpr.domain.states import state_code
from alpr.domain.types import FoundRead
from alpr.store.db import utc

MAX_PAGE_SIZE = 1000


class SearchError(ValueError):
    """The query cannot run as asked; the message says why."""


@dataclass(frozen=True)
class Near:
    latitude: float
    longitude: float
    radius_m: float

    @classmethod
    def parse(cls, text: str) -> Near:
        """``LAT,LON,METRES``, as typed on the command line."""
        try:
            lat, lon, radius = (float(x) for x in text.split(","))
        except ValueError:
            raise SearchError(f"--near wants LAT,LON,METRES, got {text!r}") from None
        return cls(lat, lon, radius)


@dataclass(frozen=True)
class SearchQuery:
    plate: str = ""  # exact, or a pattern with ? and *
    fuzzy: bool = False  # also confusable characters (O/0, B/8, ...) and one edit
    since: datetime | None = None
    until: datetime | None = None
    cameras: tuple[str, ...] = ()
    near: Near | None = None
    state: str = ""  # the issuing state read: a USPS code or a state name
    page: int = 1
    page_size: int = 50

    def terms(self) -> dict:
        """The query terms as the audit log records them."""
        out: dict = {"plate": self.plate, "fuzzy": self.fuzzy}
        if self.since or self.until:
            out["from"] = self.since.isoformat() if self.since else None
            out["to"] = self.until.isoformat() if self.until else None
        if self.cameras:
            out["cameras"] = list(self.cameras)
        if self.near:
            out["near"] = [self.near.latitude, self.near.longitude, self.near.radius_m]
        if self.state:
            out["state"] = self.state
        return out


COLUMNS = ("read_id, captured_at, camera_id, plate, confidence, latitude, longitude, frames, candidates, hold, "
           "plate_state, state_confidence, state_candidates")


@dataclass(frozen=True)
class Page:
    reads: list[FoundRead]
    page: int
    page_size: int
    more: bool  # a next page exists


def check_time(t: datetime | None) -> None:
    """ClickHouse's DateTime64 covers 1900-2299; anything outside is a mistyped date."""
    if t is not None and not 1900 <= t.year <= 2299:
        raise SearchError(f"time {t.isoformat()} is outside 1900-2299")


def vocabulary_query(q: SearchQuery, db: str) -> tuple[str, dict] | None:
    """For partial and misread-tolerant plates: the query for matching plates in the vocabulary."""
    text = normalize_pattern(q.plate)
    if is_pattern(text):
        if q.fuzzy:
            raise SearchError("a plate pattern cannot also be misread-tolerant: use one or the other")
        try:
            validate_pattern(text)
        except ValueError as exc:
            raise SearchError(str(exc)) from None
        like = text.replace("?", "_").replace("*", "%")
        return f"SELECT plate FROM {db}.plates WHERE plate LIKE %(like)s", {"like": like}
    if text and q.fuzzy:
        sql = (f"SELECT plate FROM {db}.plates WHERE length(folded) BETWEEN %(n_min)s AND %(n_max)s "
               f"AND editDistance(folded, %(folded)s) <= 1")
        return sql, {"folded": fold(text), "n_min": len(text) - 1, "n_max": len(text) + 1}
    return None


def plate_condition(q: SearchQuery, db: str) -> tuple[str, dict]:
    """The WHERE condition on the plate, with its parameters; raises SearchError for a bad plate."""
    text = normalize_pattern(q.plate)
    if not text:
        return "", {}
    if not is_pattern(text) and len(text) > plates.MAX_PLATE_LEN:
        raise SearchError(f"plate {text!r} is longer than {plates.MAX_PLATE_LEN} characters")
    vocabulary = vocabulary_query(q, db)
    if vocabulary:
        return f"plate IN ({vocabulary[0]})", vocabulary[1]
    return "plate = %(plate)s", {"plate": text}


def build_sql(q: SearchQuery, db: str) -> tuple[str, dict]:
    """The SELECT for one page of results, newest first, and its parameters."""
    if q.page < 1 or not 1 <= q.page_size <= MAX_PAGE_SIZE:
        raise SearchError(f"page must be >= 1 and page size 1..{MAX_PAGE_SIZE}")
    where, params = [], {}
    cond, p = plate_condition(q, db)
    if cond:
        where.append(cond)
        params.update(p)
    elif not (q.since and q.until):
        raise SearchError("give a plate, or a time range (--from and --to) to search without one")
    for t in (q.since, q.until):
        check_time(t)
    if q.since and q.until and q.since >= q.until:
        raise SearchError("--from must be before --to")
    if q.since:
        where.append("captured_at >= %(since)s")
        params["since"] = q.since
    if q.until:
        where.append("captured_at < %(until)s")
        params["until"] = q.until
    if q.state:
        code = state_code(q.state)
        if not code:
            raise SearchError(f"unknown state {q.state!r}: give a USPS code such as CA or a state name")
        where.append("plate_state = %(state)s")
        params["state"] = code
    if q.cameras:
        where.append("has(%(cameras)s, camera_id)")
        params["cameras"] = list(q.cameras)
    if q.near:
        n = q.near
        if not (-90 <= n.latitude <= 90 and -180 <= n.longitude <= 180 and 0 < n.radius_m <= 100_000):
            raise SearchError("--near needs a valid latitude, longitude and a radius of 1 m to 100 km")
        # a bounding box first (cheap comparisons), then the exact great-circle distance
        dlat = n.radius_m / 111_000
        dlon = dlat / max(math.cos(math.radians(n.latitude)), 0.01)
        where.append("latitude BETWEEN %(lat_lo)s AND %(lat_hi)s AND longitude BETWEEN %(lon_lo)s AND %(lon_hi)s "
                     "AND greatCircleDistance(longitude, latitude, %(lon)s, %(lat)s) <= %(radius)s")
        params.update(lat_lo=n.latitude - dlat, lat_hi=n.latitude + dlat, lon_lo=n.longitude - dlon,
                      lon_hi=n.longitude + dlon, lat=n.latitude, lon=n.longitude, radius=n.radius_m)
    sql = (f"SELECT {COLUMNS} FROM {db}.reads FINAL WHERE {' AND '.join(where)} "
           f"ORDER BY captured_at DESC, read_id LIMIT %(limit)s OFFSET %(offset)s")
    params.update(limit=q.page_size + 1, offset=(q.page - 1) * q.page_size)
    return sql, params


def search(client: Client, db: str, q: SearchQuery) -> Page:
    sql, params = build_sql(q, db)
    rows = client.query(sql, parameters=params).result_rows
    return Page([_found(r) for r in rows[: q.page_size]], q.page, q.page_size, more=len(rows) > q.page_size)


def fetch(client: Client, db: str, read_ids: list[str]) -> list[FoundRead]:
    """Reads by id, oldest first (an evidence package, a read's detail view)."""
    if not read_ids:
        return []
    rows = client.query(f"SELECT {COLUMNS} FROM {db}.reads FINAL WHERE read_id IN %(ids)s ORDER BY captured_at, read_id",
                        parameters={"ids": list(read_ids)}).result_rows
    return [_found(r) for r in rows]


def _found(r: tuple) -> FoundRead:
    return FoundRead(r[0], utc(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], tuple(r[8]), bool(r[9]), r[10], round(r[11], 4),
                     tuple(r[12]))


def images(client: Client, db: str, read_ids: list[str]) -> dict[str, tuple[bytes, bytes]]:
    """The (plate crop, scene) JPEGs of the given reads."""
    if not read_ids:
        return {}
    rows = client.query(
        f"SELECT read_id, crop_jpeg, scene_jpeg FROM {db}.read_images FINAL WHERE read_id IN %(ids)s",
        parameters={"ids": read_ids}, column_formats={"crop_jpeg": "bytes", "scene_jpeg": "bytes"},
    ).result_rows
    return {r[0]: (r[1], r[2]) for r in rows}
