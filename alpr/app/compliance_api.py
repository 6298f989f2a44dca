"""``GET /v1/compliance``: the compliance report over HTTP (JSON, or ``?format=html`` the page for
auditors), behind the gate as compliance_report; and the gauges of the latest stored run on this
process's /metrics. On the embedded database the API process owns it, so the nightly run goes
through this route (docs/compliance.md)."""

from typing import Annotated, Callable

from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse

from alpr.access.gate import Access, Caller
from alpr.app import classified
from alpr.app.compliance import evaluate
from alpr.compliance import gauges, page, runs
from alpr.config import Config

PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def add_compliance_routes(app: FastAPI, cfg: Config, access: Access, caller: Callable[..., Caller]) -> None:
    CallerDep = Annotated[Caller, Depends(caller)]
    gauges.serve_from(lambda: runs.latest(access.client, cfg.clickhouse.database))

    @app.get("/v1/compliance", response_model=None)
    def compliance_report(who: CallerDep, format: Annotated[str, Query(pattern="^(json|html)$")] = "json"
                          ) -> JSONResponse | HTMLResponse:
        """Run every live check (stored as a compliance run) and return pass or fail per clause."""
        rep = evaluate(cfg, access, who, classified.route_paths(app.routes))
        if format == "html":
            return HTMLResponse(page.render(rep), headers=PAGE_HEADERS)
        return JSONResponse(rep, headers={"Cache-Control": "no-store"})
