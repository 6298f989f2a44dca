"""Evidence holds and packages: reads a case needs outlive retention, and leave as a verifiable zip.

A hold is one row per case and read in ``evidence_holds`` (a release is a newer version of it), plus
``hold = 1`` on the read, its images and hits so that neither TTL nor enforcement removes them. A
read held by two cases stays held until both release it. A package holds the images, a manifest
(CSV and JSON), the chain of custody and ``SHA256SUMS``; the SHA-256 of ``SHA256SUMS`` is the
package digest, recorded in ``evidence_exports`` and printed for the custody receipt. A package
is built in memory (``package``) and written and recorded (``save``) only once its export is on
the access log, so an export that cannot be audited leaves neither a file nor a record.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import re
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from clickhouse_connect.driver.client import Client

from alpr import __version__
from alpr.domain.plates import normalize
from alpr.domain.types import FoundRead
from alpr.store import read_export, search
from alpr.store.db import utc
from alpr.store.retention import EXPIRING

_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SUMS = "SHA256SUMS"
SYNC = {"mutations_sync": 2}


class EvidenceError(ValueError):
    """The request cannot be carried out; the message says why."""


def _check(case_id: str, reason: str | None = None) -> None:
    if not _CASE_ID.match(case_id):
        raise EvidenceError(f"case id {case_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if reason is not None and not reason.strip():
        raise EvidenceError("a reason is required")


def _set_hold(client: Client, db: str, read_ids: list[str], value: int) -> None:
    for table in EXPIRING:
        client.command(f"ALTER TABLE {db}.{table} UPDATE hold = {value} WHERE read_id IN %(ids)s",
                       parameters={"ids": read_ids}, settings=SYNC)


def active_holds(client: Client, db: str, case_id: str) -> list[dict]:
    result = client.query(
        f"SELECT read_id, captured_at, held_by, held_at, reason FROM {db}.evidence_holds FINAL "
        f"WHERE case_id = %(case)s AND released_at IS NULL ORDER BY captured_at, read_id", parameters={"case": case_id})
    return [{**dict(zip(result.column_names, r)), "captured_at": utc(r[1]), "held_at": utc(r[3])}
            for r in result.result_rows]


def hold(client: Client, db: str, case_id: str, actor: str, reason: str, *, read_ids: list[str] = (),
         plate: str = "", since: datetime | None = None, until: datetime | None = None) -> list[str]:
    """Hold the given reads, or every read of a plate in a time range; returns the read ids held."""
    _check(case_id, reason)
    if read_ids:
        found = {r.read_id: r for r in search.fetch(client, db, list(read_ids))}
        missing = sorted(set(read_ids) - set(found))
        if missing:
            raise EvidenceError(f"no such read: {', '.join(missing)}")
        reads = list(found.values())
    elif plate and since and until:
        q = search.SearchQuery(plate=normalize(plate), since=since, until=until, page_size=search.MAX_PAGE_SIZE)
        reads = search.search(client, db, q).reads
        if len(reads) == search.MAX_PAGE_SIZE:
            raise EvidenceError(f"more than {search.MAX_PAGE_SIZE} reads match: narrow the time range")
    else:
        raise EvidenceError("give --read IDs, or --plate with --from and --to")
    if not reads:
        raise EvidenceError("no reads match")
    already = {h["read_id"] for h in active_holds(client, db, case_id)}
    now = datetime.now(timezone.utc)
    rows = [[case_id, r.read_id, r.captured_at, actor, now, reason, time.time_ns()]
            for r in reads if r.read_id not in already]
    if rows:
        client.insert(f"{db}.evidence_holds", rows,
                      column_names=["case_id", "read_id", "captured_at", "held_by", "held_at", "reason", "version"])
    ids = [r.read_id for r in reads]
    _set_hold(client, db, ids, 1)
    return ids


def release(client: Client, db: str, case_id: str, actor: str) -> list[str]:
    """Release every hold of a case; reads still held by another case stay held. Returns the ids released."""
    _check(case_id)
    held = active_holds(client, db, case_id)
    if not held:
        raise EvidenceError(f"case {case_id} holds no reads")
    now = datetime.now(timezone.utc)
    client.insert(
        f"{db}.evidence_holds",
        [[case_id, h["read_id"], h["captured_at"], h["held_by"], h["held_at"], h["reason"], actor, now, time.time_ns()]
         for h in held],
        column_names=["case_id", "read_id", "captured_at", "held_by", "held_at", "reason", "released_by",
                      "released_at", "version"])
    ids = [h["read_id"] for h in held]
    still = {r[0] for r in client.query(
        f"SELECT read_id FROM {db}.evidence_holds FINAL WHERE released_at IS NULL AND read_id IN %(ids)s",
        parameters={"ids": ids}).result_rows}
    free = [i for i in ids if i not in still]
    if free:
        _set_hold(client, db, free, 0)
    return ids


@dataclass(frozen=True)
class Receipt:
    export_id: str
    case_id: str
    path: Path
    reads: int
    files: int
    package_sha256: str


@dataclass(frozen=True)
class Package:
    """A case's package, built in memory: nothing is written until the export is on the access log."""

    export_id: str
    case_id: str
    actor: str
    reason: str
    at: datetime
    reads: int
    files: dict[str, bytes]

    @property
    def sha256(self) -> str:
        return _sha256(self.files[SUMS])

    def to_zip(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in self.files.items():
                z.writestr(name, data)
        return buf.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle(reads: list[FoundRead], images: dict[str, tuple[bytes, bytes]], header: dict, custody: dict) -> dict[str, bytes]:
    """The files of a package: the images, the manifest (JSON with ``header``, and CSV), the chain of
    custody and SHA256SUMS over all of them. One layout for case exports and shares alike."""
    files: dict[str, bytes] = {}
    manifest = []
    for r in reads:
        crop, scene = images.get(r.read_id, (b"", b""))
        entry = read_export.record(r)
        for kind, data in (("plate", crop), ("scene", scene)):
            if data:
                name = f"images/{r.read_id}-{kind}.jpg"
                files[name] = data
                entry[f"{kind}_image"] = name
        manifest.append(entry)
    files["manifest.json"] = json.dumps({**header, "reads": manifest}, indent=2).encode()
    files["manifest.csv"] = read_export.to_csv(reads).encode()
    files["custody.json"] = json.dumps(custody, indent=2, default=str).encode()
    files[SUMS] = "".join(f"{_sha256(data)}  {name}\n" for name, data in sorted(files.items())).encode()
    return files


def export_record(export_id: str, actor: str, at: datetime, reason: str) -> dict:
    """Who exported, when, why and with what: the custody file's ``export`` entry."""
    return {"export_id": export_id, "exported_by": actor, "exported_at": at.isoformat(timespec="milliseconds"),
            "reason": reason, "software": f"alpr {__version__}", "host": platform.node()}


def package(client: Client, db: str, case_id: str, actor: str, reason: str) -> Package:
    """The case's held reads as a package (images, manifests, custody, SHA256SUMS); writes nothing."""
    _check(case_id, reason)
    held = active_holds(client, db, case_id)
    if not held:
        raise EvidenceError(f"case {case_id} holds no reads")
    reads = search.fetch(client, db, [h["read_id"] for h in held])
    images = search.images(client, db, [r.read_id for r in reads])
    export_id = uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    custody = {
        "case_id": case_id,
        "holds": [{**h, "captured_at": h["captured_at"].isoformat(), "held_at": h["held_at"].isoformat()} for h in held],
        "export": export_record(export_id, actor, now, reason),
    }
    files = bundle(reads, images, {"case_id": case_id}, custody)
    return Package(export_id, case_id, actor, reason, now, len(reads), files)


def record(client: Client, db: str, pkg: Package) -> None:
    """Record the export and its digest, for ``verify --recorded`` and the custody receipt."""
    client.insert(f"{db}.evidence_exports",
                  [[pkg.export_id, pkg.case_id, pkg.actor, pkg.at, pkg.reason, pkg.reads, len(pkg.files), pkg.sha256]],
                  column_names=["export_id", "case_id", "exported_by", "exported_at", "reason", "reads", "files",
                                "package_sha256"])


def save(client: Client, db: str, pkg: Package, out: Path) -> Receipt:
    """Write the package and record the export; call it once the export is on the access log. Either
    both happen or neither: a package whose export could not be recorded is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part, placed = out.with_name(out.name + ".part"), False
    try:
        part.write_bytes(pkg.to_zip())
        part.replace(out)
        placed = True
        record(client, db, pkg)
    except BaseException:
        part.unlink(missing_ok=True)
        if placed:  # only the file this export wrote, never one it did not get to replace
            out.unlink(missing_ok=True)
        raise
    return Receipt(pkg.export_id, pkg.case_id, out, pkg.reads, len(pkg.files), pkg.sha256)


@dataclass
class Verification:
    package_sha256: str = ""
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.added or self.problems)


def verify(path: Path, expected_sha256: str | None = None) -> Verification:
    """Check every file against SHA256SUMS, and SHA256SUMS against the recorded digest when given."""
    v = Verification()
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        v.problems.append(f"not a readable zip: {exc}")
        return v
    with z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        if SUMS not in names:
            v.problems.append(f"{SUMS} is missing")
            return v
        sums = z.read(SUMS)
        v.package_sha256 = _sha256(sums)
        listed = {}
        for line in sums.decode(errors="replace").splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
        for name, digest in listed.items():
            if name not in names:
                v.missing.append(name)
            elif _sha256(z.read(name)) != digest:
                v.changed.append(name)
        v.added = sorted(set(names) - set(listed) - {SUMS})
    if expected_sha256 and expected_sha256.lower() != v.package_sha256:
        v.problems.append(f"{SUMS} differs from the recorded package digest {expected_sha256}")
    return v


def recorded_digest(client: Client, db: str, path: Path) -> str | None:
    """The digest recorded when this package was exported (its export id is in custody.json)."""
    try:
        with zipfile.ZipFile(path) as z:
            export_id = json.loads(z.read("custody.json"))["export"]["export_id"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    rows = client.query(f"SELECT package_sha256 FROM {db}.evidence_exports WHERE export_id = %(id)s",
                        parameters={"id": export_id}).result_rows
    return rows[0][0] if rows else None
