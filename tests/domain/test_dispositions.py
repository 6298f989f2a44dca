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


def test_an_officer_sees_their_own_unit_and_broadcast_fixed_hits_others_see_all():
    from alpr.domain.dispositions import visible_to

    assert visible_to("officer", "mobile-07", "mobile-07", MOBILE, "new")
    assert not visible_to("officer", "mobile-07", "mobile-09", MOBILE, "new")
    assert not visible_to("officer", "", "mobile-07", MOBILE, "new")  # no unit: no unit's hits
    assert not visible_to("officer", "mobile-07", "fixed-01", FIXED, "not_misread")  # not yet told to patrol
    for state in ("broadcast", "clets_checked", "results_broadcast", "closed"):
        assert visible_to("officer", "", "fixed-01", FIXED, state)
    assert not visible_to("officer", "mobile-07", "fixed-01", FIXED, "misread")
    assert visible_to("dispatcher", "", "mobile-09", MOBILE, "new") and visible_to("approver", "", "fixed-01", FIXED, "new")


def test_the_console_offers_exactly_the_steps_the_server_would_take():
    from alpr.domain.dispositions import STEPS, next_steps

    for site in (FIXED, MOBILE):
        for state in {s for step in STEPS for s in step.from_states} | {"closed", "misread"}:
            for role in ("dispatcher", "officer", "analyst"):
                for checked in (False, True):
                    offered = {s.action for s in next_steps(site, state, role, checked)}
                    for action in {s.action for s in STEPS if s.site == site}:
                        fields = {n: "x" for s in STEPS for n in s.needs}
                        try:
                            next_state(site, state, action, role, fields, checked)
                            allowed = True
                        except StepRefused:
                            allowed = False
                        assert (action in offered) == allowed, (site, state, role, checked, action)
