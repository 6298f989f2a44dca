"""The issuing state: codes, the pass vote, how a hit compares states and when policy drops one."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from alpr.domain.grouping import CameraGroups
from alpr.domain.hits import apply_state_policy, suppress_repeats
from alpr.domain.states import (
    DIFFERS,
    SAME,
    STATES,
    UNKNOWN,
    UNREAD,
    StateGuess,
    compare,
    guess_from_probs,
    state_code,
    suppressed,
    vote,
)
from alpr.domain.types import Box, FrameMeta, HotlistEntry, Location, Match, PlateRead

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def read(state: StateGuess, seconds: float = 0, plate: str = "ABC1234", confidence: float = 0.95) -> PlateRead:
    meta = FrameMeta("cam-1", f"f{seconds}", T0 + timedelta(seconds=seconds), Location(0, 0))
    return PlateRead(f"r{seconds}", meta, plate, confidence, Box(0, 0, 1, 1), b"", "test", state=state)


def test_fifty_states_and_dc_by_code_or_name():
    assert len(STATES) == 51 and "DC" in STATES
    assert state_code("co") == state_code("Colorado") == state_code(" colorado ") == "CO"
    assert state_code("district of columbia") == "DC"
    assert state_code("") == state_code("XX") == state_code("Colorad") == ""


def test_a_guess_keeps_the_three_most_probable_states():
    probs = [0.0] * len(STATES)
    probs[STATES.index("CO")], probs[STATES.index("MT")], probs[STATES.index("UT")], probs[0] = 0.7, 0.2, 0.06, 0.04
    g = guess_from_probs(probs)
    assert (g.state, g.runners_up) == ("CO", ("MT", "UT")) and g.confidence == pytest.approx(0.7)
    assert (UNREAD.state, UNREAD.confidence, UNREAD.runners_up) == ("", 0.0, ())


def test_the_pass_votes_its_state_over_its_frames():
    sure_co = StateGuess((("CO", 0.95), ("MT", 0.03)))
    weak_mt = StateGuess((("MT", 0.45), ("CO", 0.40)))
    v = vote([weak_mt, sure_co, weak_mt, UNREAD])
    assert v.state == "CO"  # one sure frame outweighs two weak ones; an unread frame does not vote
    assert v.confidence == pytest.approx((0.95 + 0.8) / 3, abs=1e-3)
    assert vote([UNREAD, UNREAD]) == UNREAD


def test_a_stored_pass_carries_the_voted_state():
    groups = CameraGroups(timedelta(seconds=5), timedelta(seconds=2))
    sure_co = StateGuess((("CO", 0.9), ("MT", 0.05)))
    weak_mt = StateGuess((("MT", 0.5), ("CO", 0.4)))
    for i, g in enumerate([sure_co, weak_mt, sure_co]):
        groups.add(read(g, seconds=i))
    stored, _ = groups.close_all()
    assert [(p.plate, p.state.state, p.frames) for p in stored] == [("ABC1234", "CO", 3)]


def test_states_compare_same_differs_or_unknown():
    assert compare("CO", "CO") == SAME
    assert compare("CO", "MT") == DIFFERS
    assert compare("", "MT") == compare("CO", "") == compare("", "") == UNKNOWN


@pytest.mark.parametrize(("comparison", "confidence", "mode", "dropped"), [
    (DIFFERS, 0.95, "suppress", True),
    (DIFFERS, 0.89, "suppress", False),  # not sure enough of the read state: the hit goes to dispatch
    (DIFFERS, 0.99, "flag", False),  # flag raises every hit, marked
    (SAME, 0.99, "suppress", False),
    (UNKNOWN, 0.99, "suppress", False),
])
def test_policy_suppresses_only_a_surely_differing_state(comparison, confidence, mode, dropped):
    assert suppressed(comparison, confidence, mode, 0.9) is dropped


def test_a_hit_says_how_the_states_compare_and_policy_marks_it():
    listed_mt = HotlistEntry("stolen", "e1", "ABC1234", state="MT")
    _, (hit,) = suppress_repeats(None, (read(StateGuess((("CO", 0.97),))), Match("ABC1234", listed_mt, "exact")), 60)
    assert (hit.state_match, hit.suppressed) == (DIFFERS, False)
    assert apply_state_policy(hit, "flag", 0.9).suppressed is False
    assert apply_state_policy(hit, "suppress", 0.9).suppressed is True
    assert apply_state_policy(replace(hit, read=read(StateGuess((("CO", 0.6),)))), "suppress", 0.9).suppressed is False
    _, (same,) = suppress_repeats(None, (read(StateGuess((("MT", 0.97),))), Match("ABC1234", listed_mt, "exact")), 60)
    assert same.state_match == SAME
    unlisted = HotlistEntry("stolen", "e2", "ABC1234")
    _, (unknown,) = suppress_repeats(None, (read(StateGuess((("MT", 0.97),))), Match("ABC1234", unlisted, "exact")), 60)
    assert unknown.state_match == UNKNOWN


@pytest.mark.parametrize(("lines", "state"), [
    (["7ARKANSAS97", "THENATURALSTATE"], "AR"),
    (["5AIKANSASI8", "THENATURALSTATE"], "AR"),  # one letter misread: still Arkansas, not Kansas
    (["KANSAS", ""], "KS"),
    (["WESTVIRGINIA", "WILDWONDERFUL"], "WV"),
    (["VIRGINIA", ""], "VA"),
    (["WASHINGTONDC", "TAXATIONWITHOUTREPRESENTATI0N"], "DC"),  # not Washington state
    (["JANUAAME", "MALICUZ"], ""),  # nothing legible
    (["MAARIZONA5", "OGRANDCANYONSATE"], "AZ"),
    (["NEWYORK", "THEEMPIRESTATE"], "NY"),
    (["", "GARDENSTATE"], "NJ"),  # the slogan alone
    (["IOWA", "OHIO"], ""),  # two states named as strongly: no answer
])
def test_a_state_is_named_by_its_printed_name_or_slogan(lines, state):
    from alpr.domain.states import state_named

    assert state_named(lines) == state


def test_a_named_state_goes_first_and_keeps_the_classifiers_order_after_it():
    from alpr.domain.states import with_named

    cnn = StateGuess((("KS", 0.6), ("AR", 0.3), ("MO", 0.1)))
    g = with_named(cnn, "AR")
    assert [s for s, _ in g.ranked] == ["AR", "KS", "MO"] and g.confidence == pytest.approx(0.97)
    assert sum(p for _, p in g.ranked) == pytest.approx(1.0)
    assert with_named(cnn, "") == cnn
    assert with_named(StateGuess((("AR", 0.99),)), "AR").confidence == pytest.approx(0.99)
