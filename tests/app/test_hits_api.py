"""Hits and their workflow through the HTTP API (policy 820.8), on real chDB and Redis: the steps in
order, refusals with the reason, the first of two dispatchers wins, and every step in both the
append-only hit_dispositions table and the audit log."""

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import redis
from fastapi.testclient import TestClient

from alpr.access.gate import Access
from alpr.app.api import create_app
from alpr.store import db
from tests.conftest import logged_on

pytestmark = pytest.mark.integration

PURPOSE = "dispatch duty, Communications Center"
FIXED_HIT, MOBILE_HIT = "a1" * 16, "b2" * 16


@pytest.fixture
def api(cfg):
    client = db.connect(cfg)
    db.migrate(client, cfg)
    now = datetime.now(timezone.utc)
    client.insert(f"{cfg.clickhouse.database}.hits",
                  [[FIXED_HIT, "r1", "fixed-01", now - timedelta(seconds=30), "7ABC123", "7ABC123", "stolen", "e1", "exact"],
                   [MOBILE_HIT, "r2", "mobile-01", now - timedelta(seconds=10), "8XYZ987", "8XYZ987", "stolen", "e2",
                    "exact"]],
                  column_names=["hit_id", "read_id", "camera_id", "captured_at", "plate", "matched_plate", "list_name",
                                "entry_id", "match_kind"])
    access = Access(cfg, client, redis.Redis.from_url(cfg.redis.url))
    tokens = {name: logged_on(cfg, name, role, unit) for name, role, unit in
              (("disp.one", "dispatcher", ""), ("disp.two", "dispatcher", ""), ("ofc.unit", "officer", "mobile-01"),
               ("ofc.other", "officer", "mobile-02"), ("ana.hits", "analyst", ""))}
    http = TestClient(create_app(cfg, access))

    def act(user: str, hit: str, action: str, **fields):
        return http.post(f"/v1/hits/{hit}/actions", headers={"Authorization": f"Bearer {tokens[user]}"},
                         json={"action": action, "fields": fields, "purpose": PURPOSE, "note": f"{user} {action}"})

    def get(user: str, path: str, **params):
        return http.get(path, headers={"Authorization": f"Bearer {tokens[user]}"}, params={"purpose": PURPOSE, **params})

    return access, act, get


def test_a_dispatcher_works_a_fixed_site_hit_through_and_every_step_is_recorded(api, cfg):
    access, act, get = api
    hits = get("disp.one", "/v1/hits").json()
    assert [(h["hit_id"], h["site"], h["state"]) for h in hits] == [(MOBILE_HIT, "mobile", "new"), (FIXED_HIT, "fixed", "new")]

    out_of_order = act("disp.one", FIXED_HIT, "broadcast", channel="TAC-2")
    assert out_of_order.status_code == 409
    assert "the hit is new: broadcast comes after not_misread" in out_of_order.json()["detail"]

    for action, fields in (("confirm_not_misread", {}), ("broadcast", {"channel": "TAC-2"}),
                           ("record_clets_check", {"result_code": "10-851", "reference": "CL-77"}),
                           ("broadcast_results", {"channel": "TAC-2"}), ("close", {"outcome": "vehicle recovered"})):
        r = act("disp.one", FIXED_HIT, action, **fields)
        assert r.status_code == 201, r.text

    hit = get("disp.one", f"/v1/hits/{FIXED_HIT}").json()
    assert hit["state"] == "closed"
    assert [(s["step"], s["action"], s["username"], s["role"]) for s in hit["steps"]] == [
        (1, "confirm_not_misread", "disp.one", "dispatcher"), (2, "broadcast", "disp.one", "dispatcher"),
        (3, "record_clets_check", "disp.one", "dispatcher"), (4, "broadcast_results", "disp.one", "dispatcher"),
        (5, "close", "disp.one", "dispatcher")]
    assert hit["steps"][2]["fields"] == {"result_code": "10-851", "reference": "CL-77"}
    assert get("disp.one", "/v1/hits", state="closed").json()[0]["hit_id"] == FIXED_HIT
    assert [h["hit_id"] for h in get("disp.one", "/v1/hits", state="new", limit=1).json()] == [MOBILE_HIT]

    audited = access.audit.search(action="dispose_hit", limit=50)
    assert [r["outcome"] for r in reversed(audited)] == ["denied"] + ["allowed"] * 5
    assert all(r["purpose"] == PURPOSE and r["username"] == "disp.one" for r in audited)


def test_two_dispatchers_on_one_hit_the_first_wins_and_the_second_sees_the_new_state(api):
    _, act, get = api
    results = {}

    def take(user: str) -> None:
        results[user] = act(user, FIXED_HIT, "confirm_not_misread")

    threads = [threading.Thread(target=take, args=(u,)) for u in ("disp.one", "disp.two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results.values())
    assert codes == [201, 409], {u: r.text for u, r in results.items()}
    loser = next(r for r in results.values() if r.status_code == 409)
    assert "the hit is not_misread" in loser.json()["detail"]
    assert [s["action"] for s in get("disp.two", f"/v1/hits/{FIXED_HIT}").json()["steps"]] == ["confirm_not_misread"]


def test_the_mobile_workflow_and_who_may_act(api):
    _, act, get = api
    assert act("disp.one", MOBILE_HIT, "verify_visually").status_code == 409  # the officer's step
    assert act("ofc.unit", MOBILE_HIT, "verify_visually").status_code == 201
    refused = act("ofc.unit", MOBILE_HIT, "close", outcome="arrest")
    assert refused.status_code == 409 and "confirm its status through CLETS" in refused.json()["detail"]
    assert act("disp.one", MOBILE_HIT, "record_clets_check", result_code="10-851", reference="CL-9").status_code == 201
    assert act("ofc.unit", MOBILE_HIT, "close", outcome="arrest").status_code == 201
    assert get("ofc.unit", f"/v1/hits/{MOBILE_HIT}").json()["state"] == "closed"
    assert act("ana.hits", FIXED_HIT, "confirm_not_misread").status_code == 403  # analysts do not dispose of hits
    assert get("ana.hits", "/v1/hits").status_code == 403
    assert act("disp.one", "c3" * 16, "confirm_not_misread").status_code == 404


def test_a_misread_becomes_a_labelled_crop_for_training_and_eval(api, cfg, tmp_path, monkeypatch, capsys):
    import csv
    from dataclasses import replace

    import cv2
    import numpy as np

    from alpr.app.cli import main
    from alpr.domain.types import Box
    from sinks.images import plate_crop
    from tests.store.test_storage import a_hit, make_read, store

    _, act, _ = api
    frame = np.full((480, 640, 3), 90, np.uint8)
    box = Box(200, 100, 120, 40)
    frame[box.y:box.y + box.h, box.x:box.x + box.w] = 250  # the plate: bright against the road
    read = replace(make_read("7ABC128", datetime.now(timezone.utc), camera="fixed-02"), box=box,
                   crop_jpeg=plate_crop(frame, box))
    hit = a_hit(read)
    store(db.connect(cfg), cfg, [read], [hit])
    assert act("disp.one", hit.hit_id, "mark_misread", corrected_plate="7ABC120").status_code == 201

    for key, value in {"ALPR_DATA_DIR": cfg.data_dir, "ALPR_REDIS__URL": cfg.redis.url,
                       "ALPR_CLICKHOUSE__DATABASE": cfg.clickhouse.database,
                       "ALPR_SESSION": logged_on(cfg, "ana.hits", "analyst")}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "misreads"
    assert main(["feedback", "export", str(out), "--purpose", "recognizer retraining, quarterly"]) == 0
    rows = list(csv.reader((out / "groundtruth.csv").read_text().splitlines()))
    assert rows == [[f"{hit.hit_id}.png", "", "7ABC120"]]
    plate = cv2.imread(str(out / "usimages" / rows[0][0]))
    assert plate.shape[:2] == (box.h, box.w)  # the tight plate, as seg_and_ocr crops are
    assert plate.mean() > 240  # and nothing of the road around it
    assert main(["feedback", "export", str(out), "--purpose", "recognizer retraining, quarterly"]) == 2  # not empty
    monkeypatch.setenv("ALPR_SESSION", logged_on(cfg, "disp.one", "dispatcher"))
    assert main(["feedback", "export", str(tmp_path / "other"), "--purpose", "recognizer retraining"]) == 3
    assert not (tmp_path / "other").exists()


def test_a_marked_misread_raises_no_hit_again_from_that_camera(api, cfg, keyring):
    from prometheus_client import REGISTRY

    from alpr.domain.types import NewEntry
    from alpr.hotlists.store import HotlistStore
    from flows.steps import make_hotlist_join_step
    from tests.store.test_storage import make_read

    _, act, _ = api
    r = redis.Redis.from_url(cfg.redis.url)
    store = HotlistStore(r, keyring)
    store.replace("stolen", [NewEntry("5SAM123", {"case": "C-1"})])
    join = make_hotlist_join_step(store)
    now = datetime.now(timezone.utc)
    [(_, match)] = join([("pass-1", make_read("5SAM123", now, camera="fixed-01"))])
    hit_id = "d4" * 16
    db.connect(cfg).insert(f"{cfg.clickhouse.database}.hits",
                           [[hit_id, "pass-1", "fixed-01", now, "5SAM123", "5SAM123", "stolen", match.entry.entry_id,
                             "exact"]],
                           column_names=["hit_id", "read_id", "camera_id", "captured_at", "plate", "matched_plate",
                                         "list_name", "entry_id", "match_kind"])
    assert act("disp.one", hit_id, "mark_misread", corrected_plate="5SAM128").status_code == 201

    def suppressed() -> float:
        return REGISTRY.get_sample_value("alpr_hits_known_misread_total", {"list_name": "stolen"}) or 0.0

    before = suppressed()
    assert join([("pass-2", make_read("5SAM123", now, camera="fixed-01", n=1))]) == []
    assert suppressed() == before + 1
    assert len(join([("pass-3", make_read("5SAM123", now, camera="fixed-02", n=2))])) == 1  # another camera still alerts
    assert 0 < r.ttl(f"alpr:known-misread:fixed-01:5SAM123:stolen:{match.entry.entry_id}") <= cfg.dispatch.misread_quiet_s


def test_an_officer_sees_their_own_units_hits_and_what_dispatch_broadcast(api):
    access, act, get = api
    assert [h["hit_id"] for h in get("ofc.unit", "/v1/hits").json()] == [MOBILE_HIT]
    assert get("ofc.other", "/v1/hits").json() == []
    hidden = get("ofc.other", f"/v1/hits/{MOBILE_HIT}")
    assert hidden.status_code == 404  # another unit's hit is answered as if it did not exist
    assert act("ofc.other", MOBILE_HIT, "verify_visually").status_code == 404
    refused = access.audit.search(username="ofc.other", outcome="denied", limit=10)
    assert {r["action"] for r in refused} == {"view_hits", "dispose_hit"}

    assert act("disp.one", FIXED_HIT, "confirm_not_misread").status_code == 201
    assert get("ofc.other", "/v1/hits").json() == []  # confirmed, not yet broadcast to patrol
    assert act("disp.one", FIXED_HIT, "broadcast", channel="TAC-2").status_code == 201
    assert [h["hit_id"] for h in get("ofc.other", "/v1/hits").json()] == [FIXED_HIT]
    assert get("ofc.other", f"/v1/hits/{FIXED_HIT}").json()["state"] == "broadcast"
    assert {h["hit_id"] for h in get("disp.two", "/v1/hits").json()} == {FIXED_HIT, MOBILE_HIT}


def test_the_hit_card_marks_the_read_beside_the_listed_plate_and_reveals_the_entry_audited(cfg, tmp_path, monkeypatch):
    import shutil

    from alpr.crypto import Keyring, generate_key_file
    from alpr.domain.types import NewEntry
    from alpr.hotlists.store import HotlistStore

    client = db.connect(cfg)
    db.migrate(client, cfg)
    r = redis.Redis.from_url(cfg.redis.url)
    key_file = tmp_path / "hotlist.key"
    generate_key_file(key_file)
    store = HotlistStore(r, Keyring.load(key_file, environ={}))
    entry_id = store.add("stolen", NewEntry("7ABC128", {"reason": "stolen vehicle", "case": "C-1", "make": "Honda"}))
    hit_id = "d4" * 16
    client.insert(f"{cfg.clickhouse.database}.hits",
                  [[hit_id, "r9", "fixed-01", datetime.now(timezone.utc), "7A8C128", "7ABC128", "7ABC128", "stolen",
                    entry_id, "confusable"]],
                  column_names=["hit_id", "read_id", "camera_id", "captured_at", "plate", "matched_plate", "list_plate",
                                "list_name", "entry_id", "match_kind"])
    access = Access(cfg, client, r)
    http = TestClient(create_app(cfg, access))
    headers = {"Authorization": f"Bearer {logged_on(cfg, 'disp.card', 'dispatcher')}"}
    card = http.get(f"/v1/hits/{hit_id}", headers=headers, params={"purpose": PURPOSE}).json()
    assert "".join(m["char"] for m in card["marks"]) == "7A8C128"
    assert [m["mark"] for m in card["marks"]][1:3] == ["same", "lookalike"]
    assert card["list_plate"] == "7ABC128" and card["crop_path"] == "/v1/reads/r9/crop.jpg"

    monkeypatch.delenv("ALPR_HOTLIST_KEY", raising=False)
    cfg.hotlist.key_file = str(tmp_path / "server" / "hotlist.key")  # this server's own: none yet
    without_key = http.post(f"/v1/hits/{hit_id}/entry", headers=headers, params={"purpose": PURPOSE})
    assert without_key.status_code == 503, without_key.text  # this server has no hot-list key to open it with

    cfg.hotlist_key_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(key_file, cfg.hotlist_key_path)  # now the server holds the key that sealed the entry
    entry = http.post(f"/v1/hits/{hit_id}/entry", headers=headers, params={"purpose": PURPOSE})
    assert entry.status_code == 200, entry.text
    assert entry.json()["fields"] == {"reason": "stolen vehicle", "case": "C-1", "make": "Honda"}
    analyst = {"Authorization": f"Bearer {logged_on(cfg, 'ana.card', 'analyst')}"}
    assert http.post(f"/v1/hits/{hit_id}/entry", headers=analyst, params={"purpose": PURPOSE}).status_code == 403
    reveals = access.audit.search(action="view_hotlist_entry", limit=10)
    assert [(r["username"], r["outcome"]) for r in reversed(reveals)] == [
        ("disp.card", "denied"), ("disp.card", "allowed"), ("ana.card", "denied")]
    assert reveals[1]["purpose"] == PURPOSE and json.loads(reveals[1]["terms"])["entry_id"] == entry_id
