"""``alpr feedback export DIR``: hits that dispatch marked as misreads, as labelled plate crops.

Each misread's stored crop is cut to the plate and written with the corrected plate as its label,
in the ``seg_and_ocr`` layout (``groundtruth.csv`` of file,state,plate and ``usimages/``) that
``alpr eval --crops`` and ``alpr train recognizer --crops`` read. The crops are LPR data: a session,
a purpose and an audit record, like any export.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import redis

from alpr.app.access_cli import caller, open_access
from alpr.app.cli_util import Exit, say
from alpr.config import Config
from alpr.domain.types import Box
from alpr.store.dispositions import HitDesk
from sinks.images import plate_from_crop


def cmd_export(cfg: Config, args: argparse.Namespace) -> int:
    out = Path(args.dir)
    if out.exists() and any(out.iterdir()):
        say(f"error: {out} is not empty")
        return Exit.USAGE
    access = open_access(cfg)
    desk = HitDesk(access.client, cfg.clickhouse.database, redis.Redis.from_url(cfg.redis.url),
                   cfg.dispatch.mobile_camera_prefixes)
    with access.use(caller(cfg, args), "export_feedback", terms={"dir": str(out)}) as grant:
        found = [m for m in desk.misreads() if m["true_plate"]]
        grant.plates = sorted({p for m in found for p in (m["read_plate"], m["true_plate"])})
        grant.rows = len(found)
    (out / "usimages").mkdir(parents=True, exist_ok=True)
    rows, skipped = [], 0
    for m in found:
        try:
            plate = plate_from_crop(m["crop_jpeg"], Box(*m["box"]))
        except ValueError:
            skipped += 1
            continue
        name = f"{m['hit_id']}.png"
        cv2.imwrite(str(out / "usimages" / name), plate)
        rows.append([name, "", m["true_plate"]])
    with open(out / "groundtruth.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    (out / "provenance.json").write_text(json.dumps(
        [{"file": f"{m['hit_id']}.png", "hit_id": m["hit_id"], "camera_id": m["camera_id"], "read": m["read_plate"],
          "corrected": m["true_plate"], "marked_by": m["marked_by"], "at": m["at"].isoformat()} for m in found],
        indent=2))
    say(f"wrote {len(rows)} labelled misread crops to {out}" + (f" ({skipped} unreadable crops left out)" if skipped else ""))
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("feedback", help="misreads that dispatch corrected, as labelled crops for training and eval")
    fs = f.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = fs.add_parser("export", help="write them in the seg_and_ocr layout (for alpr eval --crops, alpr train recognizer)")
    e.add_argument("dir", help="an empty or new folder")
    e.add_argument("--purpose", default="", help="why you export them (required)")
    e.add_argument("--case", default="", help="case or incident number")
    e.set_defaults(func=cmd_export)
