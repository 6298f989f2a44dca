"""Reads written out for people: CSV rows, JSON records and an HTML page with the images."""

from __future__ import annotations

import base64
import csv
import html
import io
from dataclasses import asdict
from datetime import datetime

from alpr.domain.types import FoundRead

FIELDS = ["read_id", "captured_at", "camera_id", "plate", "confidence", "state", "state_confidence", "state_candidates",
          "latitude", "longitude", "frames", "candidates", "hold"]


def record(r: FoundRead) -> dict:
    """One read as plain JSON-able values (UTC times in ISO 8601 with milliseconds)."""
    d = asdict(r)
    d["captured_at"] = r.captured_at.isoformat(timespec="milliseconds")
    d["confidence"] = round(r.confidence, 4)
    d["candidates"] = list(r.candidates)
    d["state_candidates"] = list(r.state_candidates)
    return d


def to_csv(reads: list[FoundRead]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, FIELDS, lineterminator="\n")
    w.writeheader()
    for r in reads:
        w.writerow({**record(r), "candidates": " ".join(r.candidates), "state_candidates": " ".join(r.state_candidates),
                    "hold": int(r.hold)})
    return out.getvalue()


def _img(jpeg: bytes | None, alt: str, height: int) -> str:
    if not jpeg:
        return "<em>no image</em>"
    src = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    return f'<img src="{src}" alt="{html.escape(alt)}" height="{height}">'


def to_html(reads: list[FoundRead], images: dict[str, tuple[bytes, bytes]], title: str, footer: str = "") -> str:
    """A self-contained page (images inline) that an investigator can open or attach to a report."""
    rows = []
    for r in reads:
        crop, scene = images.get(r.read_id, (b"", b""))
        where = f"{r.latitude:.5f}, {r.longitude:.5f}"
        rows.append(
            "<tr>"
            f"<td>{html.escape(r.captured_at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3])} UTC</td>"
            f"<td>{html.escape(r.camera_id)}</td><td>{where}</td>"
            f"<td class=plate>{html.escape(r.plate)}</td><td>{r.confidence:.2f}</td><td>{html.escape(r.state)}</td>"
            f"<td>{html.escape(' '.join(r.candidates))}</td><td>{'held' if r.hold else ''}</td>"
            f"<td>{_img(crop, 'plate ' + r.plate, 48)}</td><td>{_img(scene, 'scene', 120)}</td>"
            "</tr>"
        )
    generated = datetime.now().astimezone().isoformat(timespec="seconds")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;vertical-align:middle}} .plate{{font-family:monospace;font-size:1.2em}}</style>
</head><body><h1>{html.escape(title)}</h1>
<p>{len(reads)} reads. Generated {generated}. Law enforcement sensitive: for the stated purpose only.</p>
<table><tr><th>Captured</th><th>Camera</th><th>Location</th><th>Plate</th><th>Confidence</th><th>State</th>
<th>Other readings</th><th>Hold</th><th>Plate image</th><th>Scene</th></tr>
{chr(10).join(rows)}
</table><p>{html.escape(footer)}</p></body></html>
"""
