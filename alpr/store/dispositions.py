"""Hits and the steps taken on them, in ClickHouse: the state machine of ``alpr.domain.dispositions``
enforced where the steps are written.

Every step is one appended row of ``hit_dispositions`` (who, as what, when, from where, what they
recorded). Two people acting on one hit at once are serialised on a Redis lock per hit and each
reads the hit's steps afresh under it, so the first step wins and the second is refused with the
state the first one left.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import redis
from clickhouse_connect.driver.client import Client

from alpr.domain import dispositions
from alpr.domain.dispositions import NEW, StepRefused
from alpr.store.db import utc

HIT_COLUMNS = ["hit_id", "read_id", "camera_id", "captured_at", "plate", "matched_plate", "list_plate", "list_name",
               "entry_id", "match_kind", "read_state", "state_confidence", "list_state", "state_match", "published_at"]
STEP_COLUMNS = ["hit_id", "step", "at", "action", "state", "username", "role", "client_ip", "note", "fields"]
MAX_NOTE = 1000


@dataclass(frozen=True)
class Actor:
    """Who takes a step, as the access gate established it."""

    username: str
    role: str
    client_ip: str


def _hit(row: dict) -> dict:
    return {**row, "captured_at": utc(row["captured_at"]), "published_at": utc(row["published_at"])}


def _step(row: dict) -> dict:
    return {**row, "at": utc(row["at"]), "fields": json.loads(row["fields"] or "{}")}


def state_of(steps: list[dict]) -> str:
    return steps[-1]["state"] if steps else NEW


class HitDesk:
    """``pending`` finds a hit the ClickHouse sink has not written yet (the console's feed holds it
    from the hit topic), so dispatch can act on a hit the moment it is shown."""

    def __init__(self, client: Client, db: str, r: redis.Redis, mobile_prefixes: str, misread_quiet_s: float = 0.0,
                 pending: Callable[[str], dict | None] = lambda hit_id: None):
        self.client = client
        self.db = db
        self.redis = r
        self.mobile_prefixes = mobile_prefixes
        self.misread_quiet_s = misread_quiet_s
        self.pending = pending

    def steps(self, hit_ids: list[str]) -> dict[str, list[dict]]:
        """Every hit's steps, in order."""
        if not hit_ids:
            return {}
        result = self.client.query(
            f"SELECT {', '.join(STEP_COLUMNS)} FROM {self.db}.hit_dispositions WHERE hit_id IN %(ids)s "
            "ORDER BY hit_id, step", parameters={"ids": hit_ids})
        out: dict[str, list[dict]] = {h: [] for h in hit_ids}
        for values in result.result_rows:
            row = _step(dict(zip(STEP_COLUMNS, values)))
            out[row["hit_id"]].append(row)
        return out

    def hits(self, *, state: str = "", list_name: str = "", camera: str = "", since: datetime | None = None,
             until: datetime | None = None, limit: int = 200, officer_unit: str | None = None) -> list[dict]:
        """The newest hits first, each with its site kind, state and steps; filtered as given (the
        state too, in the query: a hit with no step yet is new). ``officer_unit``: only what an
        officer of that unit sees (``dispositions.visible_to``)."""
        where, params = ["suppressed = 0"], {"limit": limit}  # kept from dispatch by the state policy: not a lead
        if officer_unit is not None:
            prefixes = dispositions.mobile_prefixes(self.mobile_prefixes)
            where.append("(camera_id = %(unit)s AND %(unit)s != '' AND arrayExists(p -> startsWith(camera_id, p), "
                         "%(prefixes)s)) OR (NOT arrayExists(p -> startsWith(camera_id, p), %(prefixes)s) "
                         "AND state IN %(broadcast)s)")
            params.update(unit=officer_unit, prefixes=prefixes, broadcast=sorted(dispositions.BROADCAST_STATES))
        for column, value in (("list_name", list_name), ("camera_id", camera), ("state", state)):
            if value:
                where.append(f"{column} = %({column})s")
                params[column] = value
        if since:
            where.append("captured_at >= %(since)s")
            params["since"] = since
        if until:
            where.append("captured_at < %(until)s")
            params["until"] = until
        result = self.client.query(
            f"SELECT {', '.join(HIT_COLUMNS)} FROM (SELECT h.*, if(d.state = '', %(new)s, d.state) AS state "
            f"FROM {self.db}.hits AS h FINAL LEFT JOIN (SELECT hit_id, argMax(state, step) AS state "
            f"FROM {self.db}.hit_dispositions GROUP BY hit_id) AS d ON d.hit_id = h.hit_id) "
            f"WHERE {' AND '.join(f'({w})' for w in where)} ORDER BY captured_at DESC, hit_id LIMIT %(limit)s",
            parameters={**params, "new": NEW})
        found = [_hit(dict(zip(HIT_COLUMNS, v))) for v in result.result_rows]
        steps = self.steps([h["hit_id"] for h in found])
        return [self._worked(h, steps[h["hit_id"]]) for h in found]

    def _worked(self, hit: dict, steps: list[dict]) -> dict:
        """The hit with its site kind, its state and the steps taken on it."""
        return {**hit, "site": dispositions.site_of(hit["camera_id"], self.mobile_prefixes), "state": state_of(steps),
                "steps": steps}

    def hit(self, hit_id: str) -> dict | None:
        result = self.client.query(f"SELECT {', '.join(HIT_COLUMNS)} FROM {self.db}.hits FINAL WHERE hit_id = %(id)s",
                                   parameters={"id": hit_id})
        row = _hit(dict(zip(HIT_COLUMNS, result.result_rows[0]))) if result.result_rows else self.pending(hit_id)
        if row is None:
            return None
        return self._worked(row, self.steps([hit_id])[hit_id])

    def act(self, hit_id: str, action: str, actor: Actor, note: str = "", fields: dict[str, str] | None = None) -> dict:
        """Take one step on a hit: refused (StepRefused) when it is not the hit's next step for this
        role, else appended and returned."""
        fields = {k: str(v) for k, v in (fields or {}).items()}
        if len(note) > MAX_NOTE or not note.isprintable():
            raise StepRefused(f"a note is at most {MAX_NOTE} printable characters")
        with self.redis.lock(f"alpr:{self.db}:hit-lock:{hit_id}", timeout=10, blocking_timeout=5):
            hit = self.hit(hit_id)
            if hit is None:
                raise LookupError(f"no hit {hit_id}")
            steps = hit["steps"]
            checked = dispositions.communications_checked(s["action"] for s in steps)
            state = dispositions.next_state(hit["site"], hit["state"], action, actor.role, fields, checked)
            row = {"hit_id": hit_id, "step": len(steps) + 1, "at": datetime.now(timezone.utc), "action": action,
                   "state": state, "username": actor.username, "role": actor.role, "client_ip": actor.client_ip,
                   "note": note, "fields": json.dumps(fields, sort_keys=True)}
            self.client.insert(f"{self.db}.hit_dispositions", [list(row.values())], column_names=STEP_COLUMNS,
                               settings={"insert_quorum": "auto"})
            if state == dispositions.MISREAD and self.misread_quiet_s > 0:
                key = dispositions.misread_key(hit["camera_id"], hit["plate"], hit["list_name"], hit["entry_id"])
                self.redis.set(key, hit_id, ex=max(1, round(self.misread_quiet_s)))
            return {**row, "fields": fields}

    def misreads(self) -> list[dict]:
        """Every hit marked a misread, with the plate as read, the plate as corrected, and the stored
        crop with the plate's box in the frame: labelled examples for training and evaluation."""
        d = self.db
        result = self.client.query(
            f"SELECT s.hit_id, h.camera_id, h.plate, s.fields, s.username, s.at, i.crop_jpeg, i.box_x, i.box_y, "
            f"i.box_w, i.box_h FROM {d}.hit_dispositions AS s "
            f"INNER JOIN (SELECT hit_id, read_id, camera_id, plate FROM {d}.hits FINAL) AS h ON h.hit_id = s.hit_id "
            f"INNER JOIN (SELECT read_id, crop_jpeg, box_x, box_y, box_w, box_h FROM {d}.read_images FINAL) AS i "
            f"ON i.read_id = h.read_id WHERE s.action = 'mark_misread' ORDER BY s.at, s.hit_id",
            column_formats={"crop_jpeg": "bytes"})
        out = []
        for hit_id, camera, plate, fields, user, at, crop, x, y, w, h in result.result_rows:
            out.append({"hit_id": hit_id, "camera_id": camera, "read_plate": plate,
                        "true_plate": json.loads(fields).get("corrected_plate", ""), "marked_by": user,
                        "at": utc(at), "crop_jpeg": crop, "box": (x, y, w, h)})
        return out
