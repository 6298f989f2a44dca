"""``alpr serve``: the HTTP API for investigators, analysts, auditors and administrators.

Every route that touches LPR data or the access log goes through ``Access.use`` (session, the
policy's eligibility rules, the role table, purpose, one audit record per decision). A request the
API cannot even parse is audited too, so no call to a data route goes unrecorded. Errors are 4xx
with a reason; 503 when the audit log cannot be written (fail closed); never a 500 by design.
OpenAPI: ``/openapi.json``.

The client IP recorded is the TCP peer, unless the peer is one of ``api.trusted_proxies`` (addresses
or CIDR networks): then ``X-Forwarded-For`` is read from the right, past the trusted proxies, to the
first address they did not add themselves. The server must not rewrite the peer (``server_config``).
"""


import ipaddress
import logging
from datetime import date, datetime
from typing import Annotated, Any

import redis
import uvicorn
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import make_asgi_app
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from alpr.access.gate import Access, AccessDenied, AuditUnavailable, Caller
from alpr.access.shares import NO_REQUEST, ShareDesk
from alpr.app.compliance_api import add_compliance_routes
from alpr.app.hits_api import FeedUnavailable, add_hit_routes
from alpr.app.shares_api import SHARE_METHOD_ACTIONS, SHARE_ROUTE_ACTIONS, add_share_routes
from alpr.config import Config
from alpr.domain import passwords, roles
from alpr.domain.passwords import PasswordRejected
from alpr.domain.sharing import RequestError
from alpr.domain.types import FoundRead
from alpr.messages.hit_feed import HitFeed
from alpr.messages.hit_steps import StepPublisher
from alpr.store import db, search, sql_guard
from alpr.store.evidence import EvidenceError
from alpr.store.shares import ShareError
from alpr.store.users import User, UserError, check_new, check_unit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)

PURPOSE = Query("", max_length=500, description="why you need this (required for LPR data and the access log)")
CASE = Query("", max_length=64, description="case or incident number")
READ_ID = Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")

# route -> audited action, for requests refused before their handler runs (bad parameters)
ROUTE_ACTIONS = {
    "/v1/reads": "search_reads", "/v1/reads/{read_id}": "view_read", "/v1/reads/{read_id}/crop.jpg": "view_image",
    "/v1/reads/{read_id}/scene.jpg": "view_image", "/v1/sql": "run_sql", "/v1/audit": "audit_search",
    "/v1/users": "manage_users", "/v1/users/{username}/{change}": "manage_users", "/v1/logon": "logon",
    "/v1/hits": "view_hits", "/v1/hits/stream": "view_hits", "/v1/hits/{hit_id}": "view_hits",
    "/v1/hits/{hit_id}/seen": "view_hits", "/v1/hits/{hit_id}/entry": "view_hotlist_entry",
    "/v1/hits/{hit_id}/actions": "dispose_hit", "/v1/compliance": "compliance_report",
    **SHARE_ROUTE_ACTIONS,
}
METHOD_ACTIONS = {**SHARE_METHOD_ACTIONS}  # (method, route) -> action, where one route holds two actions


class NotFound(LookupError):
    """The read (or its image) does not exist; its lookup was audited already."""


class Logon(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    token: str
    idle_timeout_s: int
    max_age_s: int


class PageOut(BaseModel):
    reads: list[FoundRead]
    page: int
    page_size: int
    more: bool


class SqlIn(BaseModel):
    sql: str = Field(min_length=1, max_length=20_000)
    purpose: str = Field("", max_length=500)
    case: str = Field("", max_length=64)


class SqlOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class NewUser(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    full_name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)
    role: str
    rank: str = ""
    unit: str = Field("", max_length=128, description="officers: the camera id of their mobile unit")
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    username: str
    full_name: str
    organisation: str
    role: str
    rank: str
    unit: str
    disabled: bool
    locked: bool
    trained_at: date | None
    certified_until: date | None
    policy_reviewed_at: date | None


def _user_out(u: User) -> UserOut:
    return UserOut(**{k: getattr(u, k) for k in UserOut.model_fields})


def trusted_networks(text: str) -> list[Network]:
    """``api.trusted_proxies`` ("10.0.0.5, 10.1.0.0/24") as networks; ValueError names a bad entry."""
    out = []
    for item in (t.strip() for t in text.split(",")):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"api.trusted_proxies: {item!r} is not an IP address or network") from None
    return out


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def forwarded_client(peer: str, forwarded_for: str, trusted: list[Network]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the right-most address in
    X-Forwarded-For that no trusted proxy stands for (everything left of it the client may have forged).
    A malformed entry stops the walk at the last address a trusted proxy vouched for."""
    def is_trusted(address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in trusted)

    client = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()] if is_trusted(peer) else []):
        if _ip(hop) is None:
            break
        client = hop
        if not is_trusted(hop):
            break
    return client


def server_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """How `alpr serve` runs the app: uvicorn leaves the peer address alone (its proxy-headers
    middleware would believe X-Forwarded-For from 127.0.0.1); the app reads it from trusted proxies."""
    return uvicorn.Config(app, host=host, port=port, proxy_headers=False, log_level="info",
                          timeout_graceful_shutdown=3)  # console streams never finish by themselves


def create_app(cfg: Config, access: Access | None = None, feed: HitFeed | None = None,
               publisher: StepPublisher | None = None) -> FastAPI:
    """The API; ``feed`` and ``publisher`` carry the console's live stream (``serve`` starts them)."""
    if access is None:
        client = db.connect(cfg)
        db.migrate(client, cfg)
        access = Access(cfg, client, redis.Redis.from_url(cfg.redis.url))
    client, database = access.client, cfg.clickhouse.database
    trusted = trusted_networks(cfg.api.trusted_proxies)
    app = FastAPI(title="ALPR", version="1", description=__doc__)

    def client_ip(request: Request) -> str:
        peer = request.client.host if request.client else ""
        return forwarded_client(peer, ",".join(request.headers.getlist("x-forwarded-for")), trusted)

    def token_of(authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def caller(request: Request, authorization: Annotated[str, Header()] = "", purpose: str = PURPOSE,
               case: str = CASE) -> Caller:
        return Caller(token_of(authorization), client_ip(request), purpose=purpose, case_id=case)

    CallerDep = Annotated[Caller, Depends(caller)]

    @app.exception_handler(AccessDenied)
    def denied(request: Request, exc: AccessDenied) -> JSONResponse:
        status = (401 if "not logged on" in exc.reason or exc.reason.startswith("unknown user")
                  else 409 if exc.reason.startswith("step refused")
                  else 404 if exc.reason.startswith(("no hit", "no entry", NO_REQUEST))
                  else 503 if exc.reason.startswith("the hot-list key") else 403)
        return JSONResponse({"detail": exc.reason}, status_code=status)

    @app.exception_handler(AuditUnavailable)
    @app.exception_handler(FeedUnavailable)
    def unaudited(request: Request, exc: AuditUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(search.SearchError)
    @app.exception_handler(sql_guard.SqlRefused)
    @app.exception_handler(EvidenceError)
    @app.exception_handler(UserError)
    @app.exception_handler(PasswordRejected)
    @app.exception_handler(RequestError)
    @app.exception_handler(ShareError)
    def bad_request(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(NotFound)
    def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(StarletteHTTPException)
    def refused_early(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """The framework refused the request (an unreadable body, ...) before its handler ran."""
        return audited_refusal(request, str(exc.detail), exc.status_code)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Refused before its handler ran: still an access attempt, so it is audited."""
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:500]
        return audited_refusal(request, detail, 422)

    def audited_refusal(request: Request, detail: str, status: int) -> JSONResponse:
        route = request.scope.get("route")
        path = getattr(route, "path", "")
        action = METHOD_ACTIONS.get((request.method, path)) or ROUTE_ACTIONS.get(path, "")
        if action:
            who = Caller(token_of(request.headers.get("authorization", "")), client_ip(request),
                         purpose=request.query_params.get("purpose", "")[:500])
            try:
                access.record_invalid(who, action, detail)
            except AuditUnavailable as e:
                return JSONResponse({"detail": str(e)}, status_code=503)
        return JSONResponse({"detail": detail}, status_code=status)

    app.mount("/metrics", make_asgi_app())  # Prometheus: access decisions, audit-write failures

    @app.get("/v1/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/logon", response_model=SessionOut)
    def logon(body: Logon, request: Request) -> SessionOut:
        token = access.logon(body.username, body.password, client_ip(request))
        return SessionOut(token=token, idle_timeout_s=cfg.policy.session_idle_min * 60,
                          max_age_s=cfg.policy.session_hours * 3600)

    @app.post("/v1/logout", status_code=204)
    def logout(who: CallerDep) -> Response:
        access.logout(who)
        return Response(status_code=204)

    @app.get("/v1/reads", response_model=PageOut)
    def search_reads(
        who: CallerDep,
        plate: Annotated[str, Query(max_length=32, description="plate, or a pattern: ? one character, * any run")] = "",
        fuzzy: bool = False,
        since: Annotated[datetime | None, Query(alias="from")] = None,
        until: Annotated[datetime | None, Query(alias="to")] = None,
        camera: Annotated[list[str], Query(max_length=50)] = [],  # noqa: B006 - FastAPI copies defaults
        near: Annotated[str, Query(max_length=64, description="LAT,LON,METRES")] = "",
        state: Annotated[str, Query(max_length=32, description="issuing state read: USPS code (CA) or name")] = "",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=search.MAX_PAGE_SIZE)] = 50,
    ) -> PageOut:
        terms = {"plate": plate, "fuzzy": fuzzy, "from": str(since or ""), "to": str(until or ""), "cameras": camera,
                 "near": near, "state": state, "page": page}
        with access.use(who, "search_reads", terms=terms, plates=[plate]) as grant:
            q = search.SearchQuery(plate=plate, fuzzy=fuzzy, since=since, until=until, cameras=tuple(camera),
                                   near=search.Near.parse(near) if near else None, state=state, page=page,
                                   page_size=page_size)
            result = search.search(client, database, q)
            grant.rows = len(result.reads)
        return PageOut(reads=result.reads, page=result.page, page_size=result.page_size, more=result.more)

    def one_read(who: Caller, read_id: str, action: str):
        with access.use(who, action, terms={"read_id": read_id}) as grant:
            found = search.fetch(client, database, [read_id])
            grant.plates = [r.plate for r in found]
            grant.rows = len(found)
        if not found:
            raise NotFound(f"no read {read_id}")
        return found[0]

    @app.get("/v1/reads/{read_id}", response_model=FoundRead)
    def view_read(who: CallerDep, read_id: Annotated[str, READ_ID]) -> FoundRead:
        return one_read(who, read_id, "view_read")

    def image(who: Caller, read_id: str, which: int) -> Response:
        with access.use(who, "view_image", terms={"read_id": read_id, "image": ("crop", "scene")[which]}) as grant:
            found = search.images(client, database, [read_id])
            grant.rows = len(found)
        jpeg = found.get(read_id, (b"", b""))[which]
        if not jpeg:
            raise NotFound(f"no image for read {read_id}")
        return Response(jpeg, media_type="image/jpeg")

    @app.get("/v1/reads/{read_id}/crop.jpg", response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}})
    def crop(who: CallerDep, read_id: Annotated[str, READ_ID]) -> Response:
        return image(who, read_id, 0)

    @app.get("/v1/reads/{read_id}/scene.jpg", response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}})
    def scene(who: CallerDep, read_id: Annotated[str, READ_ID]) -> Response:
        return image(who, read_id, 1)

    @app.post("/v1/sql", response_model=SqlOut)
    def run_sql(body: SqlIn, request: Request, authorization: Annotated[str, Header()] = "") -> SqlOut:
        who = Caller(token_of(authorization), client_ip(request), purpose=body.purpose, case_id=body.case)
        with access.use(who, "run_sql", terms={"sql": body.sql}) as grant:
            checked = sql_guard.check(client, body.sql, database)
            grant.plates = list(checked.plates)
            columns, rows, truncated = sql_guard.run(client, checked, audit_id=grant.ref)
            grant.rows = len(rows)
        return SqlOut(columns=columns, rows=[list(r) for r in rows], truncated=truncated)

    @app.get("/v1/audit")
    def audit_search(
        who: CallerDep,
        username: Annotated[str, Query(max_length=64)] = "",
        plate: Annotated[str, Query(max_length=16)] = "",
        action: Annotated[str, Query(max_length=40)] = "",
        outcome: Annotated[str, Query(pattern="^(|allowed|denied|error)$")] = "",
        since: Annotated[datetime | None, Query(alias="from")] = None,
        until: Annotated[datetime | None, Query(alias="to")] = None,
    ) -> list[dict]:
        terms = {"username": username, "plate": plate, "action": action, "outcome": outcome,
                 "from": str(since or ""), "to": str(until or "")}
        with access.use(who, "audit_search", terms=terms, plates=[plate]) as grant:
            search.check_time(since)
            search.check_time(until)
            rows = access.audit.search(username=username, plate=plate, action=action, outcome=outcome, since=since,
                                       until=until, limit=cfg.policy.audit_read_limit)
            grant.rows = len(rows)
        return [{**r, "at": r["at"].isoformat()} for r in rows]

    @app.get("/v1/users", response_model=list[UserOut])
    def list_users(who: CallerDep) -> list[UserOut]:
        with access.use(who, "view_users") as grant:
            found = access.users.all()
            grant.rows = len(found)
        return [_user_out(u) for u in found]

    @app.post("/v1/users", response_model=UserOut, status_code=201)
    def add_user(body: NewUser, who: CallerDep) -> UserOut:
        terms = body.model_dump(exclude={"password"})
        with access.use(who, "manage_users", terms=terms) as grant:
            check_new(body.username, body.role, body.rank, cfg.policy)
            passwords.check_policy(body.password, body.username, cfg.policy.password_min_length)
            if access.users.get(body.username):
                raise UserError(f"user {body.username} exists")
            user = access.users.put(User(body.username, body.full_name, body.organisation, body.role, rank=body.rank,
                                         unit=check_unit(body.unit), password_hash=passwords.hash_password(body.password)))
            grant.rows = 1
        return _user_out(user)

    @app.post("/v1/users/{username}/{change}", response_model=UserOut)
    def change_user(who: CallerDep, username: Annotated[str, Path(max_length=64)],
                    change: Annotated[str, Path(pattern="^(disable|enable|unlock|set-role|set-unit)$")],
                    role: Annotated[str, Query(max_length=32)] = "", rank: Annotated[str, Query(max_length=64)] = "",
                    unit: Annotated[str, Query(max_length=128)] = "") -> UserOut:
        terms = {"username": username, "change": change, "role": role, "unit": unit}
        return _user_out(access.change_user(who, username, change, terms, role=role, rank=rank, unit=unit))

    add_hit_routes(app, cfg, access, caller, client_ip, token_of, feed, publisher)
    add_share_routes(app, ShareDesk(access, cfg.policy, database), caller)
    add_compliance_routes(app, cfg, access, caller)

    @app.get("/v1/roles")
    def role_table() -> list[dict]:
        """The least-privilege table: which roles may do what, and what each action requires."""
        return [{"action": a, "roles": r, "purpose_required": p, "case_required": c} for a, r, p, c in roles.table()]

    return app
