"""The hit workflow of policy 820.8 as a state machine: the order of steps, who takes each, what each records."""

import pytest

from alpr.domain.dispositions import FIXED, MOBILE, NEW, StepRefused, next_state, site_of

FIXED_PATH = [
    ("confirm_not_misread", {}, "not_misread"),
    ("broadcast", {"channel": "TAC-2"}, "broadcast"),
    ("record_clets_check", {"result_code": "10-851", "reference": "CL-77"}, "clets_checked"),
    ("broadcast_results", {"channel": "TAC-2"}, "results_broadcast"),
    ("close", {"outcome": "vehicle recovered"}, "closed"),
]


def test_a_fixed_site_hit_goes_through_the_dispatchers_steps_in_order():
    state = NEW
    for action, fields, expected in FIXED_PATH:
        state = next_state(FIXED, state, action, "dispatcher", fields)
        assert state == expected


def test_a_misread_ends_the_workflow_with_the_corrected_plate():
    assert next_state(FIXED, NEW, "mark_misread", "dispatcher", {"corrected_plate": "7ABC128"}) == "misread"
    with pytest.raises(StepRefused, match="must record corrected_plate"):
        next_state(FIXED, NEW, "mark_misread", "dispatcher", {})
    with pytest.raises(StepRefused, match="the hit is misread"):
        next_state(FIXED, "misread", "broadcast", "dispatcher", {"channel": "TAC-2"})


@pytest.mark.parametrize("state, action, why", [
    (NEW, "broadcast", "the hit is new: broadcast comes after not_misread"),
    ("not_misread", "close", "the hit is not_misread: close comes after results_broadcast"),
    ("closed", "confirm_not_misread", "the hit is closed"),
    (NEW, "verify_visually", "not a step of a fixed hit"),
])
def test_a_step_out_of_order_is_refused_with_the_reason(state, action, why):
    with pytest.raises(StepRefused, match=why):
        next_state(FIXED, state, action, "dispatcher", {"channel": "x", "outcome": "x"})


def test_each_step_names_who_may_take_it():
    with pytest.raises(StepRefused, match="role officer may not confirm not misread on a fixed hit"):
        next_state(FIXED, NEW, "confirm_not_misread", "officer", {})
    with pytest.raises(StepRefused, match="role dispatcher may not verify visually"):
        next_state(MOBILE, NEW, "verify_visually", "dispatcher", {})


def test_a_mobile_hit_needs_a_clets_confirmation_unless_communications_ran_it():
    state = next_state(MOBILE, NEW, "verify_visually", "officer", {})
    with pytest.raises(StepRefused, match="confirm its status through CLETS"):
        next_state(MOBILE, state, "close", "officer", {"outcome": "arrest"})
    assert next_state(MOBILE, state, "close", "officer", {"outcome": "arrest"}, communications_checked=True) == "closed"
    # Communications records its check without moving the officer's state
    assert next_state(MOBILE, state, "record_clets_check", "dispatcher", {"result_code": "10-851", "reference": "R"}) == state
    confirmed = next_state(MOBILE, state, "confirm_clets", "officer", {"result_code": "10-851", "reference": "R"})
    assert next_state(MOBILE, confirmed, "close", "officer", {"outcome": "arrest"}) == "closed"


def test_recorded_fields_are_bounded_and_printable():
    with pytest.raises(StepRefused, match="printable"):
        next_state(FIXED, "not_misread", "broadcast", "dispatcher", {"channel": "TAC\x00"})
    with pytest.raises(StepRefused, match="printable"):
        next_state(FIXED, "not_misread", "broadcast", "dispatcher", {"channel": "x" * 201})


def test_site_kind_by_camera_prefix():
    assert site_of("mobile-03", "mobile-, unit-") == MOBILE
    assert site_of("unit-12", "mobile-, unit-") == MOBILE
    assert site_of("fixed-01", "mobile-, unit-") == FIXED
