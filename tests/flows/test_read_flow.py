"""The read flow end to end on real tansu, Redis and chDB, with simulated camera frames."""

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
import redis
from bytewax.testing import run_main

from alpr.config import SimulatorConfig
from alpr.dev.simulator.traffic import Simulator
from alpr.domain.matching import fold
from alpr.domain.types import NewEntry
from alpr.hotlists.store import HotlistStore
from alpr.messages import kafka
from alpr.messages.frames import encode_jpeg, to_message
from alpr.messages.publish import FramePublisher
from alpr.store import db
from flows.read_flow import build, set_up
from tests.conftest import consume_all

pytestmark = pytest.mark.integration

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "infra" / "schemas" / "hit.v1.json").read_text())


@pytest.fixture
def produced(cfg):
    """36 simulated frames from three cameras plus two malformed messages."""
    kafka.ensure_topics(cfg)
    sim = Simulator(SimulatorConfig(fixed_cameras=2, mobile_units=1, seed=21, no_plate_ratio=0.1))
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    frames = sim.frames(realtime=False, start=start)
    pub = FramePublisher(cfg)
    sent = []
    for _ in range(36):
        f = next(frames)
        pub.publish(f.meta, encode_jpeg(f.image))
        sent.append(f.meta)
    key, _, headers = to_message(sent[0], b"")
    pub.publish_raw(key, b"\xff\xd8\xff\xe0 corrupt jpeg body", headers)  # passes the marker check, won't decode
    pub.publish_raw(b"cam-x", b"not even a jpeg", [("camera_id", b"cam-x")])
    pub.flush()
    return sent


def test_flow_end_to_end(cfg, keyring, reader, produced, caplog):
    shown = Counter((m.camera_id, p) for m in produced for p in m.true_plates or ())
    assert any(n >= 3 for n in shown.values()), "the test needs a plate seen in several frames"
    listed = sorted({p for _, p in shown})
    HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring).replace(
        "stolen", [NewEntry(p, {"case": f"C-{i}", "owner": "PRIVATE NAME"}) for i, p in enumerate(listed)])

    caplog.set_level("DEBUG")
    set_up(cfg)
    run_main(build(cfg, tail=False, reader=reader))

    # (a) one stored read per vehicle pass, with the best crop, mostly right
    client = db.connect(cfg)
    d = cfg.clickhouse.database
    rows = client.query(
        f"SELECT r.read_id, i.frame_id, r.camera_id, r.plate, r.confidence, r.latitude, r.longitude, i.crop_jpeg, "
        f"i.scene_jpeg, r.frames FROM {d}.reads AS r FINAL JOIN {d}.read_images AS i FINAL USING read_id",
        column_formats={"crop_jpeg": "bytes", "scene_jpeg": "bytes"}).result_rows
    by_frame = {m.frame_id: m for m in produced}
    correct = [r for r in rows if r[3] in (by_frame[r[1]].true_plates or ())]
    assert len(correct) / len(rows) >= 0.8
    passes = Counter((r[2], r[3]) for r in correct)
    assert set(passes.values()) == {1}, "a vehicle pass is stored once"
    assert len(passes) >= 0.6 * len(shown) and max(r[9] for r in rows) >= 3  # passes of several frames each
    for r in rows:
        meta = by_frame[r[1]]
        assert (r[2], r[5], r[6]) == (meta.camera_id, meta.location.latitude, meta.location.longitude)
        assert r[7][:2] == b"\xff\xd8" and len(r[7]) > 200
        scene = cv2.imdecode(np.frombuffer(r[8], np.uint8), cv2.IMREAD_COLOR)
        assert max(scene.shape[:2]) == 640
    assert client.command(f"SELECT count() FROM {d}.reads FINAL") == len(rows)

    # (b) one hit per listed plate and camera, however many frames showed it
    hits = [json.loads(m.value()) for m in consume_all(cfg, cfg.kafka.hits_topic)]
    assert hits
    for h in hits:
        jsonschema.validate(h, SCHEMA)
        assert "PRIVATE NAME" not in json.dumps(h)
    assert {h["match"] for h in hits} <= {"exact", "confusable"}
    assert all(h["matched_plate"] == h["plate"] for h in hits)
    stored_hits = client.query(f"SELECT hit_id, read_id, list_name, match_kind FROM {d}.hits FINAL").result_rows
    assert sorted(stored_hits) == sorted((h["hit_id"], h["read_id"], h["list_name"], h["match"]) for h in hits)
    per_key = Counter((h["camera_id"], h["list_plate"]) for h in hits)
    assert set(per_key.values()) == {1}
    # a hit names the stored pass it belongs to, and every stored listed pass gave its hit
    assert {h["read_id"] for h in hits} <= {r[0] for r in rows}
    by_fold = {fold(p): p for p in listed}
    read_pairs = {(r[2], by_fold[fold(r[3])]) for r in rows if fold(r[3]) in by_fold}
    assert read_pairs <= set(per_key)
    assert any(r[9] >= 2 for r in rows if (r[2], by_fold.get(fold(r[3]))) in per_key), \
        "some listed plate should be read in several frames yet hit once"

    # (c) malformed frames go to the dead-letter topic, whole, with the reason
    dead = consume_all(cfg, cfg.kafka.dead_letter_topic)
    reasons = sorted(dict(m.headers())["dlq_reason"].decode() for m in dead)
    assert reasons == ["missing_header", "undecodable_image"]
    assert {m.value() for m in dead} == {b"\xff\xd8\xff\xe0 corrupt jpeg body", b"not even a jpeg"}

    # the flow kept going after them: every good frame was searched
    assert {r[1] for r in rows} <= set(by_frame)

    # hot-list fields reach no store, topic or log in clear text
    stored = client.raw_query(f"SELECT * FROM {d}.reads FORMAT TSV") + client.raw_query(
        f"SELECT * EXCEPT (crop_jpeg, scene_jpeg) FROM {d}.read_images FORMAT TSV") + client.raw_query(
        f"SELECT * FROM {d}.hits FORMAT TSV")
    topics = b"".join((m.value() or b"") + b"".join(v or b"" for _, v in m.headers() or [])
                      for t in (cfg.kafka.hits_topic, cfg.kafka.dead_letter_topic) for m in consume_all(cfg, t))
    for where in (stored, topics, caplog.text.encode()):
        assert b"PRIVATE NAME" not in where and b"C-0" not in where


def test_replaying_the_stream_stores_nothing_twice(cfg, reader, produced):
    set_up(cfg)
    run_main(build(cfg, tail=False, reader=reader))
    table = f"{cfg.clickhouse.database}.reads"
    client = db.connect(cfg)
    first = client.query(f"SELECT read_id, plate FROM {table} FINAL ORDER BY read_id").result_rows
    set_up(cfg)
    run_main(build(cfg, tail=False, reader=reader))  # no recovery state: the whole topic again
    assert client.query(f"SELECT read_id, plate FROM {table} FINAL ORDER BY read_id").result_rows == first
    assert client.command(f"SELECT uniqExact(read_id) = count() FROM {table} FINAL") == 1


def test_hits_say_how_the_read_state_compares_and_suppress_keeps_a_differing_one_from_dispatch(cfg, keyring, reader):
    """Reads carry the state the state reader gives them; a hit compares it with the listed state;
    with hits.state_mismatch = suppress a surely differing one is recorded, never published."""
    from alpr.domain.matching import fold as fold_plate
    from alpr.domain.states import STATES, compare
    from alpr.messages.frames import decode_image
    from detectors.state_reader import BUNDLED, StateClassifier, StateReader, WithStates

    states_reader = WithStates(reader, StateReader(StateClassifier(BUNDLED), reader.read_text))
    kafka.ensure_topics(cfg)
    frames = Simulator(SimulatorConfig(fixed_cameras=2, mobile_units=0, seed=33, no_plate_ratio=0.0)).frames(
        realtime=False, start=datetime.now(timezone.utc) - timedelta(minutes=5))
    pub, read_states = FramePublisher(cfg), {}
    for _ in range(24):
        f = next(frames)
        jpeg = encode_jpeg(f.image)
        pub.publish(f.meta, jpeg)
        for p in states_reader.read(decode_image(jpeg)).plates:  # what the flow will read, frame by frame
            read_states.setdefault(fold_plate(p.plate), set()).add(p.state.state)
    pub.flush()
    shown = sorted(read_states)
    differs = shown[::2]  # listed in a state no frame of theirs was read in
    entries = [NewEntry(p, {"case": "C-1"}, state=next(s for s in STATES if s not in read_states[p])) for p in differs]
    entries += [NewEntry(p, {"case": "C-2"}, state=sorted(read_states[p])[0]) for p in shown[1::2]]
    HotlistStore(redis.Redis.from_url(cfg.redis.url), keyring).replace("stolen", entries)
    cfg.hits.state_mismatch, cfg.hits.state_min_confidence = "suppress", 0.0

    set_up(cfg)
    run_main(build(cfg, tail=False, reader=states_reader))

    client, d = db.connect(cfg), cfg.clickhouse.database
    reads = client.query(f"SELECT plate_state, state_confidence, state_candidates FROM {d}.reads FINAL").result_rows
    assert reads and all(s in STATES and 0 < c <= 1 and len(others) == 2 for s, c, others in reads)
    stored = client.query(f"SELECT hit_id, plate, read_state, list_state, state_match, suppressed FROM {d}.hits FINAL"
                          ).result_rows
    assert stored
    for _, _, read_state, list_state, match, suppressed in stored:
        assert match == compare(read_state, list_state) and list_state
        assert suppressed == (match == "differs")
    listed_differs = {fold_plate(p) for p in differs}
    assert {fold_plate(h[1]) for h in stored if h[5]} & listed_differs, "a differing state was suppressed"
    published = [json.loads(m.value()) for m in consume_all(cfg, cfg.kafka.hits_topic)]
    for h in published:
        jsonschema.validate(h, SCHEMA)
        assert h["schema"] == "alpr.hit/1.1" and h["state_match"] != "differs" and h["read_state"] in STATES
    assert sorted(h["hit_id"] for h in published) == sorted(h[0] for h in stored if not h[5])
