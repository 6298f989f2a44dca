"""The compliance map (alpr/compliance/clauses.toml) is true: every clause of policy 820 and Civil Code
1798.90.51-.55 is there, with enforcing code and tests that exist, and the live checks it names agree
with the checks' own clauses. A doctored map is caught."""

from __future__ import annotations

import pytest

from alpr.compliance import clauses
from alpr.compliance.checks import CHECKS
from alpr.compliance.clauses import REQUIRED, MapError, load, parse, problems

PROVES = {name: proves for name, (_, proves) in CHECKS.items()}


def test_the_map_is_true():
    found = load()
    assert [c.id for c in found] == list(REQUIRED)
    assert problems(found, PROVES) == []
    assert all(c.code and c.tests and c.checks for c in found)


def doctored(old: str, new: str) -> list[str]:
    text = clauses.MAP.read_text()
    assert old in text, old
    return problems(parse(text.replace(old, new, 1)), PROVES)


@pytest.mark.parametrize("old, new, why", [
    ('"tests/access/test_access.py::test_idle_sessions_expire"', '"tests/access/test_access.py::test_sessions_never_end"',
     "has no test test_sessions_never_end"),
    ('"tests/access/test_access.py::test_idle_sessions_expire"', '"tests/access/test_gone.py::test_idle_sessions_expire"',
     "no file tests/access/test_gone.py"),
    ('"alpr/store/retention.py::enforce"', '"alpr/store/retention.py::enforce_now"', "defines no enforce_now"),
    ('"alpr/store/dispositions.py::HitDesk.act"', '"alpr/store/dispositions.py::HitDesk.approve"', "HitDesk has no approve"),
    ('"alpr/store/users.py::refusal"', '"tests/conftest.py::logged_on"', "enforcing code lives outside tests/"),
    ('[clause."820.9"]', '[clause."820.10"]', "clause 820.9 is missing from the map"),
    ('checks = ["hits_disposed"]', 'checks = []', "check hits_disposed proves 820.8 but the map names it under no clause"),
    ('checks = ["hits_disposed"]', 'checks = ["hits_disposed", "dispatch_speed"]', "no live check 'dispatch_speed'"),
])
def test_a_doctored_map_is_caught(old, new, why):
    assert doctored(old, new) != []
    assert any(why in p for p in doctored(old, new)), doctored(old, new)


def test_a_clause_without_code_or_tests_is_caught():
    text = clauses.MAP.read_text()
    start = text.index('[clause."820.8"]')
    end = text.index('[clause."820.9"]')
    stripped = '[clause."820.8"]\ntitle = "Hits"\nstatement = "A hit is a lead."\nchecks = ["hits_disposed"]\n\n'
    found = problems(parse(text[:start] + stripped + text[end:]), PROVES)
    assert "clause 820.8 names no enforcing code" in found
    assert "clause 820.8 names no test" in found


def test_an_unreadable_map_is_refused_with_the_reason():
    with pytest.raises(MapError, match="not valid TOML"):
        parse('[clause."820.1"\ntitle = ')
    with pytest.raises(MapError, match="clause 820.1: missing"):
        parse('[clause."820.1"]\ntitle = "Purpose"\n')
