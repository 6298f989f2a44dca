"""Hits for dispatch and patrol (policy 820.8): the list, the hit card, the workflow steps, the live
stream the console shows, and the console page itself.

Officers see their own mobile unit's hits and the fixed-site hits dispatch broadcast
(``dispositions.visible_to``); a hit they may not see is answered as if it did not exist, and the
refusal is audited. Every call is audited through the gate: opening the stream, each hit a console
reports shown (which also times how long a hit took to reach a person), each step, and each reveal of
a hot-list entry's sealed fields.
"""

import asyncio
import html
import json
import time
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Callable

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from alpr import metrics
from alpr.access.gate import Access, Caller
from alpr.config import Config
from alpr.crypto import Keyring, KeyUnavailable, UnknownKeyError
from alpr.domain import dispositions
from alpr.domain.dispositions import StepRefused
from alpr.domain.matching import char_marks
from alpr.hotlists.store import HotlistStore
from alpr.messages.hit_feed import HIT, FeedEvent, HitFeed, advanced, format_cursor, parse_cursor
from alpr.messages.hit_steps import StepPublisher, step_message
from alpr.store import search
from alpr.store.dispositions import Actor, HitDesk
from alpr.store.users import User

HIT_ID = Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
CONSOLE_DIR = FilePath(__file__).resolve().parent / "console"
KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
POLL_S = 0.05  # how often a stream looks for new events: well under the 1 s a hit may take to show
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data: {tiles}; "
                    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class StepIn(BaseModel):
    action: str = Field(min_length=1, max_length=64, description="the workflow step (policy 820.8); see alpr.domain.dispositions")
    note: str = Field("", max_length=1000)
    fields: dict[str, str] = Field(default_factory=dict, description="what the step records: corrected_plate, channel, "
                                   "result_code, reference, outcome")
    purpose: str = Field("", max_length=500)
    case: str = Field("", max_length=64)


class StepOut(BaseModel):
    hit_id: str
    step: int
    at: datetime
    action: str
    state: str
    username: str
    role: str
    client_ip: str
    note: str
    fields: dict[str, str]


class HitOut(BaseModel):
    hit_id: str
    read_id: str
    camera_id: str
    camera_name: str
    captured_at: datetime
    published_at: datetime
    plate: str
    matched_plate: str
    list_plate: str
    list_name: str
    entry_id: str
    match_kind: str
    read_state: str = Field("", description="the issuing state read from the plate (USPS code), empty when unread")
    state_confidence: float = 0.0
    list_state: str = Field("", description="the issuing state on the hot list, empty when the list gives none")
    state_match: str = Field("unknown", description="same | differs | unknown: a differing state may be another vehicle")
    site: str
    state: str
    steps: list[StepOut]


class Mark(BaseModel):
    char: str
    mark: str = Field(description="same | lookalike | wild | differs")


class NextStep(BaseModel):
    action: str
    needs: list[str]


class HitCard(HitOut):
    """What dispatch needs to rule out a misread: the read beside the listed plate, marked."""

    next_steps: list[NextStep] = Field(description="the steps your role may take now")
    marks: list[Mark]
    confidence: float | None
    candidates: list[str]
    latitude: float | None
    longitude: float | None
    crop_path: str
    scene_path: str


class EntryOut(BaseModel):
    list_name: str
    entry_id: str
    plate: str
    fields: dict[str, Any]
    added: dict[str, str]


def _visible(hit: dict, user: User) -> bool:
    return dispositions.visible_to(user.role, user.unit, hit["camera_id"], hit["site"], hit["state"])


def add_hit_routes(app: FastAPI, cfg: Config, access: Access, caller: Callable[..., Caller],
                   client_ip: Callable[[Request], str], token_of: Callable[[str], str],
                   feed: HitFeed | None = None, publisher: StepPublisher | None = None) -> None:
    """The /v1/hits routes and /console; ``feed`` and ``publisher`` are the live stream's two ends
    (without a feed the stream answers 503, and steps reach consoles only when fetched)."""
    client, database = access.client, cfg.clickhouse.database
    desk = HitDesk(client, database, access.redis, cfg.dispatch.mobile_camera_prefixes, cfg.dispatch.misread_quiet_s,
                   pending=feed.hit_row if feed else (lambda hit_id: None))
    CallerDep = Annotated[Caller, Depends(caller)]
    name_of = cfg.dispatch.camera_name

    def hit_out(hit: dict) -> dict:
        return {**hit, "camera_name": name_of(hit["camera_id"]), "list_plate": hit["list_plate"] or hit["matched_plate"]}

    def one_hit(who: Caller, grant, hit_id: str) -> dict:
        """The hit if it exists and this user may see it; otherwise refused as not found (audited)."""
        found = desk.hit(hit_id)
        if found is None or not _visible(found, grant.user):
            raise access.refuse(grant, who, f"no hit {hit_id}")
        grant.plates = [found["plate"]]
        grant.rows = 1
        return found

    @app.get("/v1/hits", response_model=list[HitOut])
    def list_hits(
        who: CallerDep,
        state: Annotated[str, Query(max_length=32)] = "",
        list_name: Annotated[str, Query(alias="list", max_length=64)] = "",
        camera: Annotated[str, Query(max_length=64)] = "",
        since: Annotated[datetime | None, Query(alias="from")] = None,
        until: Annotated[datetime | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[dict]:
        """Hits, newest first, each with its workflow state and steps (policy 820.8); an officer gets
        their unit's and the broadcast ones."""
        terms = {"state": state, "list": list_name, "camera": camera, "from": str(since or ""), "to": str(until or "")}
        with access.use(who, "view_hits", terms=terms) as grant:
            search.check_time(since)
            search.check_time(until)
            unit = grant.user.unit if grant.user.role == "officer" else None
            found = desk.hits(state=state, list_name=list_name, camera=camera, since=since, until=until, limit=limit,
                              officer_unit=unit)
            grant.plates = [h["plate"] for h in found]
            grant.rows = len(found)
        return [hit_out(h) for h in found]

    @app.get("/v1/hits/stream", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
    async def stream_hits(request: Request, who: CallerDep,
                          last_event_id: Annotated[str, Header(max_length=400)] = "") -> StreamingResponse:
        """Server-Sent Events: ``hit`` and ``step`` events as they reach Kafka, each with an id that
        resumes the stream (the ``Last-Event-ID`` header) without missing any; ``live`` once the events
        held from before are sent; ``end`` with the reason when the session ends."""
        user = await asyncio.to_thread(open_stream, who, last_event_id)  # audited first, like every access
        if feed is None:
            raise FeedUnavailable("the live hit feed does not run in this process (alpr serve runs it)")
        return StreamingResponse(_events(request, who, user, parse_cursor(last_event_id)),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store",
                                                                          "X-Accel-Buffering": "no"})

    def open_stream(who: Caller, last_event_id: str) -> User:
        with access.use(who, "view_hits", terms={"stream": "console", "from": last_event_id}) as grant:
            return grant.user

    async def _events(request: Request, who: Caller, user: User, cursor: dict[str, int]):
        deadline = time.monotonic() + 10
        while not feed.ready.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        seq = feed.last_seq()
        backlog = [e for e in feed.since(cursor) if e.seq <= seq]
        for event in backlog:
            cursor = advanced(cursor, event)
            if (text := _sse(event, user, cursor)) is not None:
                yield text
        yield "event: live\ndata: {}\n\n"
        next_check = time.monotonic() + KEEPALIVE_S
        while not feed.stopping.is_set():  # the server is stopping: end, and the browser reconnects
            events = feed.after(seq)
            for event in events:
                seq, cursor = event.seq, advanced(cursor, event)
                if (text := _sse(event, user, cursor)) is not None:
                    if event.kind == HIT:
                        metrics.HIT_FEED_DELAY.observe(max(0.0, time.time() - event.published_ms / 1000))
                    yield text
            if time.monotonic() >= next_check:
                if await request.is_disconnected():
                    return
                why = await asyncio.to_thread(access.still_allowed, who, "view_hits")
                if why:
                    yield f"event: end\ndata: {_json({'reason': why})}\n\n"
                    return
                yield ": keepalive\n\n"
                next_check = time.monotonic() + KEEPALIVE_S
            await asyncio.sleep(POLL_S)

    def _sse(event: FeedEvent, user: User, cursor: dict[str, int]) -> str | None:
        data = event.data
        site = data.get("site") or dispositions.site_of(data.get("camera_id", ""), cfg.dispatch.mobile_camera_prefixes)
        state = data.get("state", dispositions.NEW)
        if not dispositions.visible_to(user.role, user.unit, data.get("camera_id", ""), site, state):
            return None
        shown = {k: v for k, v in data.items() if k not in ("entry_sealed", "crop_ref")}  # sealed fields: reveal only
        shown.update(site=site, published_ms=event.published_ms,
                     camera_name=data.get("camera_name") or name_of(data.get("camera_id", "")))
        return f"id: {format_cursor(cursor)}\nevent: {event.kind}\ndata: {_json(shown)}\n\n"

    @app.get("/v1/hits/{hit_id}", response_model=HitCard)
    def view_hit(who: CallerDep, hit_id: Annotated[str, HIT_ID]) -> dict:
        """The hit card: the hit, its steps, the read beside the listed plate with each character
        marked, the read's confidence, OCR candidates and place, and where to fetch its images."""
        with access.use(who, "view_hits", terms={"hit_id": hit_id}) as grant:
            hit = one_hit(who, grant, hit_id)
            read = search.fetch(client, database, [hit["read_id"]])
        live = feed.hit(hit_id) if feed else None
        out = hit_out(hit)
        confidence = read[0].confidence if read else live["confidence"] if live else None
        candidates = list(read[0].candidates) if read else []
        place = ((read[0].latitude, read[0].longitude) if read else
                 (live["location"]["latitude"], live["location"]["longitude"]) if live else (None, None))
        checked = dispositions.communications_checked(s["action"] for s in hit["steps"])
        steps = dispositions.next_steps(hit["site"], hit["state"], grant.user.role, checked)
        return {**out, "next_steps": [{"action": s.action, "needs": list(s.needs)} for s in steps],
                "marks": [{"char": c, "mark": m} for c, m in char_marks(hit["plate"], out["list_plate"])],
                "confidence": confidence, "candidates": candidates, "latitude": place[0], "longitude": place[1],
                "crop_path": f"/v1/reads/{hit['read_id']}/crop.jpg",
                "scene_path": f"/v1/reads/{hit['read_id']}/scene.jpg"}

    @app.post("/v1/hits/{hit_id}/seen", status_code=204)
    def hit_seen(who: CallerDep, hit_id: Annotated[str, HIT_ID]) -> Response:
        """A console showed this hit to its user: audited, and the first report times how long the
        hit took from the topic to a person (``alpr_hit_time_to_view_seconds``)."""
        with access.use(who, "view_hits", terms={"hit_id": hit_id, "shown": "console"}) as grant:
            one_hit(who, grant, hit_id)
        waited = feed.first_view(hit_id) if feed else None
        if waited is not None:
            metrics.HIT_TIME_TO_VIEW.observe(waited)
        return Response(status_code=204)

    @app.post("/v1/hits/{hit_id}/entry", response_model=EntryOut)
    def reveal_entry(who: CallerDep, hit_id: Annotated[str, HIT_ID]) -> dict:
        """The listed entry's sealed fields (reason, case, vehicle), decrypted for the roles allowed
        to see them; each reveal is audited with its purpose."""
        with access.use(who, "view_hotlist_entry", terms={"hit_id": hit_id}) as grant:
            hit = one_hit(who, grant, hit_id)
            grant.terms.update(list=hit["list_name"], entry_id=hit["entry_id"])
            try:
                store = HotlistStore(access.redis, Keyring.load(cfg.hotlist_key_path))
            except KeyUnavailable:
                raise access.refuse(grant, who, "the hot-list key is not available on this server") from None
            plate = hit["list_plate"] or hit["matched_plate"]
            try:
                found = [(e, f, a) for e, f, a in store.show(hit["list_name"], plate) if e.entry_id == hit["entry_id"]]
            except UnknownKeyError:
                raise access.refuse(grant, who, "the hot-list key that sealed this entry is not on this server") from None
            if not found:
                raise access.refuse(grant, who, f"no entry {hit['entry_id']} on {hit['list_name']} any more "
                                    "(removed or expired since the hit)")
            entry, fields, added = found[0]
        return {"list_name": entry.list_name, "entry_id": entry.entry_id, "plate": entry.plate, "fields": fields,
                "added": added}

    @app.post("/v1/hits/{hit_id}/actions", response_model=StepOut, status_code=201)
    def act_on_hit(request: Request, hit_id: Annotated[str, HIT_ID], body: StepIn,
                   authorization: Annotated[str, Header()] = "") -> dict:
        """Take the hit's next step; refused (409) with the reason and the hit's state when it is not
        the next step for your role, or another person took it first."""
        who = Caller(token_of(authorization), client_ip(request), purpose=body.purpose, case_id=body.case)
        terms = {"hit_id": hit_id, "step": body.action, "fields": body.fields, "note": body.note}
        with access.use(who, "dispose_hit", terms=terms) as grant:
            hit = one_hit(who, grant, hit_id)
            actor = Actor(grant.user.username, grant.user.role, who.client_ip)
            try:
                step = desk.act(hit_id, body.action, actor, body.note, body.fields)
            except LookupError:
                raise access.refuse(grant, who, f"no hit {hit_id}") from None
            except StepRefused as exc:
                raise access.refuse(grant, who, f"step refused: {exc}") from None
            grant.terms["state"] = step["state"]
        published = feed.published_ms(hit_id) if feed else None
        since = published / 1000 if published else hit["published_at"].timestamp()
        metrics.HIT_TIME_TO_STEP.labels(body.action).observe(max(0.0, time.time() - since))
        metrics.HIT_STEPS.labels(body.action, hit["camera_id"], hit["list_name"]).inc()
        if publisher is not None:
            publisher.publish(step_message(hit, step, name_of(hit["camera_id"])))
        return step

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    def console() -> HTMLResponse:
        """The dispatch console: a static page; everything it shows comes through the audited API."""
        page = (CONSOLE_DIR / "console.html").read_text()
        tiles = cfg.dispatch.map_tile_url
        page = page.replace("{{map_tile_url}}", html.escape(tiles, quote=True))
        return HTMLResponse(page, headers=_headers(tiles))

    @app.get("/console/{asset}", include_in_schema=False)
    def console_asset(asset: Annotated[str, Path(pattern="^console\\.(js|css)$")]) -> Response:
        return Response((CONSOLE_DIR / asset).read_bytes(), media_type=ASSETS[asset],
                        headers=_headers(cfg.dispatch.map_tile_url))


class FeedUnavailable(RuntimeError):
    """The process serves the API without the live hit feed."""


def _headers(tiles: str) -> dict[str, str]:
    origin = "/".join(tiles.split("/")[:3]) if tiles else ""
    return {k: v.replace("{tiles}", origin) for k, v in SECURITY_HEADERS.items()}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
