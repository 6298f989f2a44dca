"""Sharing on written request (policy 820.6) over HTTP: the same operations as ``alpr share``, each
through the gate (``alpr.access.shares.ShareDesk``). A request the policy refuses is recorded and
answered 403 with the reason; the package of a fulfilled request comes back as application/zip.
"""

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Body, Depends, FastAPI, Path, Query
from fastapi.responses import Response
from pydantic import Base64Bytes, BaseModel, Field

from alpr.access.gate import Caller
from alpr.access.shares import ShareDesk
from alpr.domain.sharing import AGENCY_TYPES, STATUSES, ShareRequest
from alpr.store import evidence, share_file
from alpr.store.shares import MAX_LETTER_BYTES

REQUEST_ID = Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
# route -> audited action, for requests refused before their handler runs (api.ROUTE_ACTIONS)
SHARE_ROUTE_ACTIONS = {
    "/v1/shares": "view_share_requests", "/v1/shares/report": "share_transparency_report",
    "/v1/shares/purge": "purge_share_requests", "/v1/shares/{request_id}": "view_share_requests",
    "/v1/shares/{request_id}/letter": "view_share_requests",
    "/v1/shares/{request_id}/approve": "decide_share_request", "/v1/shares/{request_id}/deny": "decide_share_request",
    "/v1/shares/{request_id}/fulfil": "fulfil_share_request",
}
SHARE_METHOD_ACTIONS = {("POST", "/v1/shares"): "add_share_request"}  # where one path holds two actions


class NewShareRequest(BaseModel):
    """A written request as received: who asks, why, and for what."""

    agency_name: str = Field(min_length=1, max_length=200)
    agency_ori: str = Field(min_length=9, max_length=9, description="NCIC Originating Agency Identifier")
    agency_type: str = Field(pattern="^(" + "|".join(AGENCY_TYPES) + ")$")
    agency_state: str = Field(min_length=2, max_length=2)
    requester_name: str = Field(min_length=1, max_length=200)
    requester_title: str = Field("", max_length=200)
    requester_contact: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=500)
    case_number: str = Field("", max_length=64)
    since: datetime
    until: datetime
    plates: list[str] = Field([], max_length=100)
    cameras: list[str] = Field([], max_length=50)
    area: str = Field("", max_length=64, description="LAT,LON,METRES")
    letter_name: str = Field("", max_length=200)
    letter_base64: Annotated[Base64Bytes, Field(max_length=MAX_LETTER_BYTES)] = Field(
        b"", description="the written request (letter, e-mail, form), base64")


class Decision(BaseModel):
    note: str = Field("", max_length=500, description="approve: an optional note; deny: the reason (required)")


def add_share_routes(app: FastAPI, desk: ShareDesk, caller: Callable[..., Caller]) -> None:
    CallerDep = Annotated[Caller, Depends(caller)]

    @app.post("/v1/shares", status_code=201)
    def add_request(body: NewShareRequest, who: CallerDep) -> dict:
        """Record a written request (records, approvers); 403 with the reason when the policy refuses it."""
        letter = (body.letter_name or "letter", body.letter_base64) if body.letter_base64 else None
        fields = body.model_dump(exclude={"letter_name", "letter_base64"})
        req = ShareRequest(request_id="", received_at=datetime.now(timezone.utc), entered_by="",
                           **{**fields, "plates": tuple(body.plates), "cameras": tuple(body.cameras)})
        return share_file.record(desk.add(who, req, letter))

    @app.get("/v1/shares")
    def list_requests(who: CallerDep, status: Annotated[str, Query(pattern="^(|" + "|".join(STATUSES) + ")$")] = "",
                      since: Annotated[datetime | None, Query(alias="from")] = None,
                      until: Annotated[datetime | None, Query(alias="to")] = None) -> list[dict]:
        """The file of requests (records, approvers, auditors), oldest first."""
        return [share_file.record(r) for r in desk.find(who, status, since, until)]

    @app.get("/v1/shares/report")
    def transparency(who: CallerDep, since: Annotated[datetime, Query(alias="from")],
                     until: Annotated[datetime, Query(alias="to")]) -> dict:
        """Shares per agency per month and refusals by reason: no plates, no people."""
        report = desk.transparency(who, since, until)
        return {**report, "from": since.isoformat(), "to": until.isoformat()}

    @app.post("/v1/shares/purge")
    def purge(who: CallerDep) -> dict:
        """Remove requests past policy.share_request_retention_years (records)."""
        return {"purged": desk.purge(who)}

    @app.get("/v1/shares/{request_id}")
    def show(who: CallerDep, request_id: Annotated[str, REQUEST_ID]) -> dict:
        return share_file.record(desk.show(who, request_id)[0])

    @app.get("/v1/shares/{request_id}/letter", response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}}}})
    def letter(who: CallerDep, request_id: Annotated[str, REQUEST_ID]) -> Response:
        _, found = desk.show(who, request_id, with_letter=True)
        if not found:
            return Response(b"", status_code=204)
        return Response(found[1], media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{request_id}-letter"'})

    @app.post("/v1/shares/{request_id}/approve")
    def approve(who: CallerDep, request_id: Annotated[str, REQUEST_ID],
                body: Annotated[Decision, Body()] = Decision()) -> dict:
        """An approver of an approving rank, not of the requesting agency."""
        return share_file.record(desk.decide(who, request_id, True, body.note))

    @app.post("/v1/shares/{request_id}/deny")
    def deny(who: CallerDep, request_id: Annotated[str, REQUEST_ID], body: Decision) -> dict:
        return share_file.record(desk.decide(who, request_id, False, body.note))

    @app.post("/v1/shares/{request_id}/fulfil", response_class=Response,
              responses={200: {"content": {"application/zip": {}}}})
    def fulfil(who: CallerDep, request_id: Annotated[str, REQUEST_ID]) -> Response:
        """The package of an approved request (analysts, approvers; a purpose): exactly what was approved."""
        req, pkg = desk.fulfil(who, request_id)
        try:
            evidence.record(desk.store.client, desk.store.db, pkg)  # only once the access is on the log
        except BaseException:
            desk.release(req)
            raise
        desk.record_fulfilment(req, pkg)
        return Response(pkg.to_zip(), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{request_id}.zip"',
                                 "X-Package-SHA256": pkg.sha256, "X-Export-Id": pkg.export_id})
