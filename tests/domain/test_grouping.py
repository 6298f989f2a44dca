"""Plate grouping and the consensus vote: pure logic."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from alpr.domain.grouping import CameraGroups, consensus, group_id_for, same_vehicle
from alpr.domain.types import Box, FrameMeta, Location, PlateRead

T0 = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)


def read(plate: str, s: float, conf: float = 0.9, n: int = 0, camera: str = "cam-1") -> PlateRead:
    frame = FrameMeta(camera, f"f-{s}-{n}", T0 + timedelta(seconds=s), Location(40.0, -74.0))
    return PlateRead(f"r-{s}-{n}-{plate}", frame, plate, conf, Box(0, 0, 10, 5), b"crop-" + plate.encode(), "test")


def test_same_vehicle_tolerates_one_confusable_or_one_edit():
    assert same_vehicle("7ABC123", "7A8C123")  # B/8
    assert same_vehicle("7ABC123", "7ABC12")  # a missed character
    assert same_vehicle("7ABC123", "7ABD123")  # one substitution
    assert not same_vehicle("7ABC123", "7XYZ123")
    assert not same_vehicle("7ABC123", "7ABC1")


def test_consensus_fixes_a_single_frame_misread():
    plate, conf, others = consensus([read("7ABC123", 0, 0.9), read("7A8C123", 1, 0.6), read("7ABC123", 2, 0.8),
                                     read("7ABC12", 3, 0.5)])
    assert plate == "7ABC123"
    assert others[:2] == ("7A8C123", "7ABC12")
    assert 0.8 < conf <= 0.9


def test_reads_of_one_pass_form_one_group_and_close_on_event_time():
    cam = CameraGroups(gap=timedelta(seconds=4), lateness=timedelta(seconds=1))
    ids = []
    for i, (p, s) in enumerate([("7ABC123", 0), ("5XYZ999", 0.5), ("7A8C123", 1.5), ("7ABC123", 3)]):
        gid, closed, _ = cam.add(read(p, s, n=i))
        ids.append(gid)
        assert closed == []
    assert ids[0] == ids[2] == ids[3] == group_id_for("r-0-0-7ABC123") and ids[1] != ids[0]
    _, closed, _ = cam.add(read("9QQQ111", 8.1))  # 8.1 > 3 + 4 + 1: the first vehicle's group closes
    assert [g.plate for g in closed] == ["7ABC123", "5XYZ999"]
    stored = closed[0]
    assert (stored.read_id, stored.frames, stored.seen_ms) == (ids[0], 3, 3000)
    assert stored.frame.captured_at == T0 and stored.crop_jpeg == b"crop-7ABC123"
    assert [g.plate for g in cam.close_all()[0]] == ["9QQQ111"]


def test_the_same_plate_after_the_gap_is_a_new_pass_and_late_reads_are_kept():
    cam = CameraGroups(gap=timedelta(seconds=4), lateness=timedelta(seconds=1))
    first, _, _ = cam.add(read("7ABC123", 0))
    second, closed, _ = cam.add(read("7ABC123", 10))
    assert second != first and [g.read_id for g in closed] == [first]
    late, closed, _ = cam.add(read("7ABC123", 1, n=9))  # its pass has closed: stored at once, on its own
    assert late not in (first, second) and [g.read_id for g in closed] == [late]
    assert [g.read_id for g in cam.close_all()[0]] == [second]


def test_grouping_is_deterministic_for_a_replay():
    reads = [read(p, s, n=i) for i, (p, s) in enumerate([("7ABC123", 0), ("7ABC123", 1), ("5XYZ999", 9)])]

    def run():
        cam = CameraGroups(gap=timedelta(seconds=4), lateness=timedelta(seconds=1))
        out = [cam.add(r) for r in reads]
        return [closed for _, closed, _ in out], cam.close_all()

    assert run() == run()


def test_a_pass_needs_one_confident_read_and_weak_reads_still_vote():
    cam = CameraGroups(gap=timedelta(seconds=4), lateness=timedelta(seconds=1), min_confidence=0.8)
    weak_first = read("7A8C123", 0, conf=0.6)  # the plate half in view as the car comes in
    assert not cam.is_lead(weak_first)
    gid, _, _ = cam.add(weak_first)
    assert cam.add(read("7ABC123", 1, conf=0.95))[0] == gid
    cam.add(read("M01906", 2, conf=0.7))  # a lone misread of something else
    cam.add(read("7ABC123", 3, conf=0.9))
    _, closed, dropped = cam.add(read("5XYZ999", 9, conf=0.99))
    assert [(g.read_id, g.plate, g.frames) for g in closed] == [(gid, "7ABC123", 3)] and dropped == 1
    assert "7A8C123" in closed[0].candidates
    kept, dropped = cam.close_all()
    assert [g.plate for g in kept] == ["5XYZ999"] and dropped == 0


def test_a_unanimous_pass_keeps_its_best_confidence_and_the_ocr_candidates():
    r1, r2 = read("7ABC123", 0, conf=0.7), read("7ABC123", 1, conf=0.95)
    r2 = replace(r2, candidates=("7A8C123",))
    assert consensus([r1, r2]) == ("7ABC123", 0.95, ("7A8C123",))


def test_within_one_edit_agrees_with_the_edit_distance():
    import itertools
    import random

    from alpr.domain.edits import within_one_edit
    from alpr.domain.scoring import edit_distance

    rng = random.Random(3)
    words = ["".join(rng.choice("AB01") for _ in range(rng.randint(3, 6))) for _ in range(60)]
    for a, b in itertools.product(words, repeat=2):
        assert within_one_edit(a, b) == (edit_distance(a, b) <= 1), (a, b)
