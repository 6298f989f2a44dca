"""The sharing rules of policy 820.6 and Civil Code 1798.90.55, as pure code."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from alpr.domain import sharing
from alpr.domain.sharing import APPROVED, DENIED, FULFILLED, PENDING, REFUSED, Approver, RequestError, Rules

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
RULES = Rules()
GOOD = sharing.ShareRequest(
    request_id="SR-1", received_at=NOW, entered_by="aa.kim", agency_name="Oakland Police Department",
    agency_ori="CA0010900", agency_type="police", agency_state="CA", requester_name="Det. R. Lane",
    requester_title="Detective", requester_contact="rlane@oaklandpd.example", reason="armed robbery suspect vehicle",
    case_number="OPD-26-1187", since=NOW - timedelta(days=30), until=NOW - timedelta(days=1), plates=("7ABC123",),
    letter_name="request.pdf", letter_sha256="ab" * 32)
WATCH = Approver("lt.ross", "approver", "watch_commander", "City PD")


def test_a_request_within_the_rules_goes_to_an_approver():
    assert sharing.refusal(GOOD, RULES, NOW) is None


@pytest.mark.parametrize("change, code", [
    ({"agency_state": "NV", "agency_ori": "NV0020000"}, "out_of_state"),
    ({"agency_ori": "AZ0070000"}, "out_of_state"),  # says California, but the ORI is of another state
    ({"agency_type": "federal", "agency_ori": "CAFBISF00"}, "federal"),
    ({"agency_type": "private"}, "private"),
    ({"agency_type": "commercial"}, "commercial"),
    ({"agency_type": "individual"}, "individual"),
    ({"reason": " "}, "no_reason"),
    ({"case_number": ""}, "no_case"),
    ({"letter_sha256": ""}, "no_letter"),
    ({"plates": ()}, "unspecific"),
    ({"since": NOW - timedelta(days=1), "until": NOW - timedelta(days=2)}, "bad_window"),
    ({"until": NOW + timedelta(days=7)}, "bad_window"),
    ({"since": NOW - timedelta(days=2 * 365 + 5)}, "beyond_retention"),
])
def test_requests_outside_the_rules_are_refused_with_the_reason(change, code):
    refused = sharing.refusal(replace(GOOD, **change), RULES, NOW)
    assert refused is not None and refused.code == code, refused
    assert refused.reason and code in sharing.REASONS


def test_the_rules_are_configuration():
    nevada = replace(GOOD, agency_state="NV", agency_ori="NV0020000")
    assert sharing.refusal(nevada, replace(RULES, states=frozenset({"CA", "NV"})), NOW) is None
    assert sharing.refusal(replace(GOOD, case_number=""), replace(RULES, requires_case=False), NOW) is None
    assert sharing.refusal(replace(GOOD, since=NOW - timedelta(days=1000)), replace(RULES, retention_years=3), NOW) is None
    federal = replace(GOOD, agency_type="federal")
    assert sharing.refusal(federal, replace(RULES, refused_types=frozenset()), NOW) is None
    assert sharing.refusal(federal, RULES, NOW).reason.startswith("federal agency")
    assert "1798.90.55" in sharing.refusal(federal, RULES, NOW).reason


def test_a_cameras_or_area_request_needs_no_plate():
    assert sharing.refusal(replace(GOOD, plates=(), cameras=("fixed-01",)), RULES, NOW) is None
    assert sharing.refusal(replace(GOOD, plates=(), area="37.80,-122.27,500"), RULES, NOW) is None


def test_only_an_approving_rank_outside_the_requesting_agency_decides_a_pending_request():
    assert sharing.approval_refusal(GOOD, WATCH, RULES) is None
    for rank in ("detective_bureau_lieutenant", "division_commander"):
        assert sharing.approval_refusal(GOOD, replace(WATCH, rank=rank), RULES) is None
    assert "only these ranks" in sharing.approval_refusal(GOOD, replace(WATCH, rank="sergeant"), RULES)
    # the requesting agency's own member, however the name is typed
    own = replace(WATCH, organisation="oakland police  department.")
    assert "requesting agency" in sharing.approval_refusal(GOOD, own, RULES)
    for status in (APPROVED, DENIED, REFUSED, FULFILLED):
        assert "not pending" in sharing.approval_refusal(replace(GOOD, status=status), WATCH, RULES)


def test_only_an_approved_request_is_fulfilled_and_only_once():
    assert sharing.fulfil_refusal(replace(GOOD, status=APPROVED)) is None
    assert "only an approved request" in sharing.fulfil_refusal(GOOD)
    done = replace(GOOD, status=FULFILLED, fulfilled_at=NOW, export_id="e1")
    assert "was fulfilled" in sharing.fulfil_refusal(done)


@pytest.mark.parametrize("change, message", [
    ({"agency_ori": "CA001"}, "ORI"),
    ({"agency_state": "California"}, "state"),
    ({"agency_type": "bounty_hunter"}, "agency type"),
    ({"agency_name": " "}, "agency's name"),
    ({"requester_contact": ""}, "contact"),
    ({"area": "north side"}, "area"),
    ({"area": "37.8,-122.2,900000"}, "area"),
    ({"plates": ("7ABC123456789",)}, "plates"),
    ({"reason": "x" * 501}, "reason"),
])
def test_a_malformed_request_is_an_input_error_not_a_refusal(change, message):
    with pytest.raises(RequestError, match=message):
        sharing.check_fields(replace(GOOD, **change))


def test_fields_are_tidied():
    req = sharing.check_fields(replace(GOOD, agency_ori="ca0010900", agency_state="ca",
                                       plates=("7abc 123", "7ABC123", "8xyz-999"), cameras=(" fixed-01 ", "")))
    assert (req.agency_ori, req.agency_state) == ("CA0010900", "CA")
    assert req.plates == ("7ABC123", "8XYZ999") and req.cameras == ("fixed-01",)


def test_the_transparency_report_counts_shares_and_refusals_without_plates_or_people():
    month = NOW - timedelta(days=3)
    reqs = [
        replace(GOOD, request_id="a", status=FULFILLED, fulfilled_at=month, reads_shared=4),
        replace(GOOD, request_id="b", status=FULFILLED, fulfilled_at=month, reads_shared=1),
        replace(GOOD, request_id="c", status=REFUSED, refusal_code="federal", agency_type="federal"),
        replace(GOOD, request_id="d", status=DENIED, refusal_code="denied"),
        replace(GOOD, request_id="e", status=REFUSED, refusal_code="federal"),
        replace(GOOD, request_id="f", status=PENDING),
        replace(GOOD, request_id="g", received_at=NOW - timedelta(days=90), status=REFUSED, refusal_code="private"),
    ]
    rep = sharing.transparency(reqs, NOW - timedelta(days=30), NOW + timedelta(days=1))
    assert rep["requests_received"] == 6
    assert rep["shares"] == [{"month": "2026-12", "agency": "Oakland Police Department", "ori": "CA0010900",
                              "shares": 2, "reads": 5}]
    assert rep["refusals"] == [{"code": "federal", "reason": "federal agency", "requests": 2},
                               {"code": "denied", "reason": "denied by the approver", "requests": 1}]
    text = repr(rep)
    assert "7ABC123" not in text and "Lane" not in text and "robbery" not in text


def test_the_file_keeps_a_request_its_retention_after_its_last_activity():
    old = replace(GOOD, received_at=NOW - timedelta(days=800), status=FULFILLED,
                  fulfilled_at=NOW - timedelta(days=740))
    assert sharing.purgeable(old, NOW, 2)
    assert not sharing.purgeable(replace(old, fulfilled_at=NOW - timedelta(days=700)), NOW, 2)
    assert not sharing.purgeable(replace(old, status=APPROVED, fulfilled_at=None), NOW, 2)  # still open
    assert not sharing.purgeable(old, NOW, 3)
