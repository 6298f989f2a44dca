"""Retention, evidence holds and packages, and investigative search, against real ClickHouse (chDB)."""

import json
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from alpr.domain.types import Box, FrameMeta, Hit, HotlistEntry, Location, PlateRead, hit_id_for, read_id_for
from alpr.store import db, evidence, retention
from alpr.store.search import Near, SearchQuery, build_sql, images, search, vocabulary_query
from sinks.clickhouse import HITS, IMAGES, READS

pytestmark = pytest.mark.integration

# An hour ahead of the clock: reads "just past the limit" at NOW are not yet expired for the TTL,
# so only enforcement (told the time is NOW) can remove them.
NOW = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
LIMIT = retention.cutoff(NOW, 2)
HOME = Location(37.7749, -122.4194)


def make_read(plate: str, at: datetime, camera: str = "cam-1", where: Location = HOME, n: int = 0) -> PlateRead:
    frame = FrameMeta(camera, f"{camera}-{at.timestamp()}-{n}", at, where)
    return PlateRead(read_id_for(frame.frame_id, 0), frame, plate, 0.9, Box(10, 20, 120, 40),
                     b"\xff\xd8crop-" + plate.encode(), "test", scene_jpeg=b"\xff\xd8scene-" + plate.encode())


def store(client, cfg, reads: list[PlateRead], hits: list[Hit] = ()) -> None:
    d = cfg.clickhouse.database
    for table in (IMAGES, READS):
        client.insert(f"{d}.{table.name}", [table.row(r) for r in reads], column_names=table.columns)
    if hits:
        client.insert(f"{d}.hits", [HITS.row(h) for h in hits], column_names=HITS.columns)


def a_hit(read: PlateRead) -> Hit:
    entry = HotlistEntry("stolen", "e1", read.plate)
    return Hit(hit_id_for(read.frame.camera_id, "stolen", "e1", read.read_id), read, entry, "exact", read.plate)


@pytest.fixture
def client(cfg):
    c = db.connect(cfg)
    db.migrate(c, cfg)
    return c


def ids(client, cfg, table: str) -> set[str]:
    return {r[0] for r in client.query(f"SELECT read_id FROM {cfg.clickhouse.database}.{table} FINAL").result_rows}


def test_enforcement_removes_exactly_the_unheld_reads_past_the_limit(client, cfg):
    d = cfg.clickhouse.database
    old_free = make_read("OLD1111", LIMIT - timedelta(minutes=1))
    old_held = make_read("OLD2222", LIMIT - timedelta(minutes=1), n=1)
    young_free = make_read("NEW3333", LIMIT + timedelta(minutes=1))
    young_held = make_read("NEW4444", LIMIT + timedelta(minutes=1), n=1)
    everything = [old_free, old_held, young_free, young_held]
    store(client, cfg, everything, [a_hit(r) for r in everything])
    evidence.hold(client, d, "CASE-1", "det.smith", "burglary series", read_ids=[old_held.read_id, young_held.read_id])

    # a replay of the stream after a crash re-inserts the held read with hold = 0 ...
    store(client, cfg, [old_held])
    run = retention.enforce(client, d, 2, now=NOW)  # ... enforcement re-applies the hold first

    kept = {young_free.read_id, young_held.read_id, old_held.read_id}
    assert ids(client, cfg, "reads") == kept
    assert ids(client, cfg, "read_images") == kept
    assert ids(client, cfg, "hits") == kept
    assert {r[0] for r in client.query(f"SELECT plate FROM {d}.plates FINAL").result_rows} == {
        "OLD2222", "NEW3333", "NEW4444"}
    assert (run.reads_removed, run.images_removed, run.hits_removed, run.plates_removed, run.held_reads) == (1, 1, 1, 1, 2)

    report = retention.report(client, d, 2, now=NOW)
    assert report["within_limit"] and report["oldest_unheld_read"] == young_free.frame.captured_at
    assert report["held_by_case"][0]["case_id"] == "CASE-1" and report["held_by_case"][0]["reads"] == 2
    assert report["last_enforcement"]["reads_removed"] == 1
    assert sum(m["reads"] for m in report["months"]) >= 3

    # released evidence past the limit goes with the next enforcement; the young read stays
    evidence.release(client, d, "CASE-1", "sgt.jones")
    assert retention.report(client, d, 2, now=NOW)["within_limit"] is False
    retention.enforce(client, d, 2, now=NOW)
    assert ids(client, cfg, "reads") == {young_free.read_id, young_held.read_id}
    assert retention.report(client, d, 2, now=NOW)["within_limit"] is True


def test_a_read_held_by_two_cases_stays_held_until_both_release(client, cfg):
    d = cfg.clickhouse.database
    r = make_read("TWO2222", LIMIT - timedelta(minutes=30))
    store(client, cfg, [r])
    evidence.hold(client, d, "CASE-A", "det.a", "case a", read_ids=[r.read_id])
    evidence.hold(client, d, "CASE-B", "det.b", "case b", read_ids=[r.read_id])
    evidence.release(client, d, "CASE-A", "lt.c")
    retention.enforce(client, d, 2, now=NOW)
    assert ids(client, cfg, "reads") == {r.read_id}
    evidence.release(client, d, "CASE-B", "lt.c")
    retention.enforce(client, d, 2, now=NOW)
    assert ids(client, cfg, "reads") == set()


def test_hold_requests_are_checked(client, cfg):
    d = cfg.clickhouse.database
    with pytest.raises(evidence.EvidenceError, match="no such read"):
        evidence.hold(client, d, "CASE-1", "det.a", "why", read_ids=["nope"])
    with pytest.raises(evidence.EvidenceError, match="reason"):
        evidence.hold(client, d, "CASE-1", "det.a", " ", read_ids=["nope"])
    with pytest.raises(evidence.EvidenceError, match="case id"):
        evidence.hold(client, d, "../etc", "det.a", "why", read_ids=["nope"])
    with pytest.raises(evidence.EvidenceError, match="holds no reads"):
        evidence.release(client, d, "CASE-9", "det.a")


def test_evidence_package_exports_and_verifies_and_detects_tampering(client, cfg, tmp_path):
    d = cfg.clickhouse.database
    t0 = NOW - timedelta(days=10)
    reads = [make_read("EVD1234", t0 + timedelta(hours=i), camera=f"cam-{i}") for i in range(3)]
    other = make_read("EVD1234", t0 - timedelta(days=5))
    store(client, cfg, reads + [other])
    held = evidence.hold(client, d, "2026-000123", "det.smith", "stolen vehicle used in robbery",
                         plate="EVD1234", since=t0, until=t0 + timedelta(days=1))
    assert sorted(held) == sorted(r.read_id for r in reads)

    pkg = tmp_path / "case.zip"
    receipt = evidence.save(client, d, evidence.package(client, d, "2026-000123", "det.smith", "court: People v. Doe"), pkg)
    assert receipt.reads == 3 and receipt.files == 3 * 2 + 4
    check = evidence.verify(pkg, evidence.recorded_digest(client, d, pkg))
    assert check.ok and check.package_sha256 == receipt.package_sha256

    with zipfile.ZipFile(pkg) as z:
        manifest = json.loads(z.read("manifest.json"))
        custody = json.loads(z.read("custody.json"))
        assert [m["read_id"] for m in manifest["reads"]] == [r.read_id for r in reads]
        first = manifest["reads"][0]
        assert z.read(first["plate_image"]) == reads[0].crop_jpeg
        assert z.read(first["scene_image"]) == reads[0].scene_jpeg
        assert first["camera_id"] == "cam-0" and first["latitude"] == HOME.latitude
        assert custody["export"]["exported_by"] == "det.smith" and custody["export"]["reason"] == "court: People v. Doe"
        assert {h["held_by"] for h in custody["holds"]} == {"det.smith"}
        assert "EVD1234" in z.read("manifest.csv").decode()
        entries = {n: z.read(n) for n in z.namelist()}

    def repack(name: str, files: dict) -> object:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as z:
            for n, data in files.items():
                z.writestr(n, data)
        return evidence.verify(path, receipt.package_sha256)

    changed = repack("changed.zip", {**entries, first["plate_image"]: b"\xff\xd8edited"})
    assert not changed.ok and changed.changed == [first["plate_image"]]
    missing = repack("missing.zip", {n: v for n, v in entries.items() if n != "custody.json"})
    assert not missing.ok and missing.missing == ["custody.json"]
    added = repack("added.zip", {**entries, "images/extra.jpg": b"\xff\xd8"})
    assert not added.ok and added.added == ["images/extra.jpg"]
    # rewriting SHA256SUMS to match an edit is caught by the recorded digest
    forged = {**entries, "manifest.csv": b"forged"}
    forged["SHA256SUMS"] = entries["SHA256SUMS"].replace(
        evidence._sha256(entries["manifest.csv"]).encode(), evidence._sha256(b"forged").encode())
    resummed = repack("forged.zip", forged)
    assert not resummed.ok and not resummed.changed and "recorded package digest" in resummed.problems[0]


@pytest.fixture
def searchable(client, cfg):
    base = NOW - timedelta(days=1)
    far = Location(37.8044, -122.2712)  # Oakland, ~13 km from HOME
    reads = [
        make_read("7ABC123", base, "cam-1"),
        make_read("7ABC123", base + timedelta(hours=1), "cam-2", n=1),
        make_read("7ABC123", base + timedelta(hours=2), "cam-3", where=far, n=2),
        make_read("7A8C123", base + timedelta(hours=3), "cam-1", n=3),  # a B/8 misread
        make_read("7ABC12", base + timedelta(hours=4), "cam-1", n=4),  # a missed character
        make_read("7ABD123", base + timedelta(hours=5), "cam-1", n=5),  # one substitution
        make_read("5XYZ999", base + timedelta(hours=6), "cam-2", n=6),
    ]
    store(client, cfg, reads)
    return reads


def plates_of(page) -> list[str]:
    return [r.plate for r in page.reads]


def test_search_modes(client, cfg, searchable):
    d = cfg.clickhouse.database
    exact = search(client, d, SearchQuery(plate="7abc-123"))
    assert plates_of(exact) == ["7ABC123"] * 3
    assert [r.captured_at for r in exact.reads] == sorted((r.captured_at for r in exact.reads), reverse=True)
    assert sorted(plates_of(search(client, d, SearchQuery(plate="7A?C123")))) == ["7A8C123", "7ABC123", "7ABC123",
                                                                                   "7ABC123"]
    assert set(plates_of(search(client, d, SearchQuery(plate="*ABC*")))) == {"7ABC123", "7ABC12"}
    assert set(plates_of(search(client, d, SearchQuery(plate="7ABC123", fuzzy=True)))) == {
        "7ABC123", "7A8C123", "7ABC12", "7ABD123"}
    assert plates_of(search(client, d, SearchQuery(plate="7ABC123", cameras=("cam-2", "cam-3")))) == ["7ABC123"] * 2
    window = SearchQuery(plate="7ABC123", since=NOW - timedelta(days=1), until=NOW - timedelta(days=1, hours=-1))
    assert [r.camera_id for r in search(client, d, window).reads] == ["cam-1"]
    near = search(client, d, SearchQuery(plate="7ABC123", near=Near(HOME.latitude, HOME.longitude, 2000)))
    assert {r.camera_id for r in near.reads} == {"cam-1", "cam-2"}
    no_plate = SearchQuery(since=NOW - timedelta(days=2), until=NOW, cameras=("cam-2",))
    assert plates_of(search(client, d, no_plate)) == ["5XYZ999", "7ABC123"]

    p1 = search(client, d, SearchQuery(plate="7ABC123", fuzzy=True, page_size=3))
    p2 = search(client, d, SearchQuery(plate="7ABC123", fuzzy=True, page_size=3, page=2))
    assert p1.more and not p2.more and len(p1.reads) == 3 and len(p2.reads) == 3
    assert p1.reads[-1].captured_at > p2.reads[0].captured_at

    pics = images(client, d, [exact.reads[0].read_id])
    assert pics[exact.reads[0].read_id] == (b"\xff\xd8crop-7ABC123", b"\xff\xd8scene-7ABC123")


def test_search_uses_the_primary_key_and_the_ngram_index(client, cfg, searchable):
    d = cfg.clickhouse.database

    def explain(sql: str, params: dict) -> str:
        return "\n".join(r[0] for r in client.query("EXPLAIN indexes = 1 " + sql, parameters=params).result_rows)

    exact = explain(*build_sql(SearchQuery(plate="7ABC123"), d))
    assert "PrimaryKey" in exact and "Condition: (plate in ['7ABC123', '7ABC123'])" in exact
    # partial plates: the vocabulary's n-gram index, then the primary key of reads with the set found
    partial = SearchQuery(plate="*ABC*")
    assert "Name: plate_ngrams" in explain(*vocabulary_query(partial, d))
    assert "Condition: (plate in 2-element set)" in explain(*build_sql(partial, d))


def test_reads_keep_their_state_and_search_filters_on_it(client, cfg):
    from dataclasses import replace

    from alpr.domain.states import StateGuess
    from alpr.store.search import SearchError

    t = NOW - timedelta(days=3)
    co = replace(make_read("ABC1234", t), state=StateGuess((("CO", 0.93), ("MT", 0.04), ("UT", 0.01))))
    mt = replace(make_read("ABC1234", t + timedelta(minutes=5), n=1), state=StateGuess((("MT", 0.81), ("CO", 0.1))))
    unread = make_read("ABC1234", t + timedelta(minutes=9), n=2)
    store(client, cfg, [co, mt, unread])
    d = cfg.clickhouse.database
    row = client.query(f"SELECT plate_state, state_confidence, state_candidates FROM {d}.reads FINAL "
                       "WHERE read_id = %(id)s", parameters={"id": co.read_id}).result_rows[0]
    assert (row[0], round(row[1], 2), row[2]) == ("CO", 0.93, ["MT", "UT"])

    found = search(client, d, SearchQuery(plate="ABC1234", state="co")).reads
    assert [(r.read_id, r.state, r.state_confidence, r.state_candidates) for r in found] == [
        (co.read_id, "CO", 0.93, ("MT", "UT"))]
    assert [r.read_id for r in search(client, d, SearchQuery(plate="ABC1234", state="Montana")).reads] == [mt.read_id]
    assert {r.state for r in search(client, d, SearchQuery(plate="ABC1234")).reads} == {"CO", "MT", ""}
    assert [r.read_id for r in search(client, d, SearchQuery(since=t - timedelta(hours=1), until=NOW,
                                                             state="MT")).reads] == [mt.read_id]
    with pytest.raises(SearchError, match="unknown state 'Atlantis'"):
        search(client, d, SearchQuery(plate="ABC1234", state="Atlantis"))


def test_a_hit_records_both_states_and_whether_policy_kept_it_from_dispatch(client, cfg):
    from dataclasses import replace

    from alpr.domain.hits import apply_state_policy, suppress_repeats
    from alpr.domain.states import StateGuess
    from alpr.domain.types import Match

    read = replace(make_read("ABC1234", NOW - timedelta(hours=2)), state=StateGuess((("CO", 0.96),)))
    listed = HotlistEntry("stolen", "e9", "ABC1234", state="MT")
    _, (hit,) = suppress_repeats(None, (read, Match("ABC1234", listed, "exact")), 60)
    store(client, cfg, [read], [apply_state_policy(hit, "suppress", 0.9)])
    row = client.query(f"SELECT read_state, state_confidence, list_state, state_match, suppressed "
                       f"FROM {cfg.clickhouse.database}.hits FINAL").result_rows
    assert [(s, round(c, 2), *rest) for s, c, *rest in row] == [("CO", 0.96, "MT", "differs", 1)]
