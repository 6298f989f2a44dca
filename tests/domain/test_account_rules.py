"""The pure rules behind account hardening: whose address to believe, what a purpose must say, what an
admin may change, and who may use the local recovery commands."""

from datetime import date, timedelta

import pytest

from alpr.app.api import forwarded_client, trusted_networks
from alpr.config import PolicyConfig
from alpr.domain.dates import add_years
from alpr.domain.roles import purpose_refusal, refusal
from alpr.store.users import User, apply_change, break_glass_refusal, change_refusal, dates_refusal

TODAY = date(2026, 12, 3)
POLICY = PolicyConfig()


def user(name: str, role: str = "officer", **kw) -> User:
    return User(name, name.title(), "City PD", role, **kw)


@pytest.mark.parametrize("peer, header, trusted, expected", [
    ("127.0.0.1", "203.0.113.9", "", "127.0.0.1"),  # no trusted proxies: the header is anyone's to write
    ("198.51.100.1", "203.0.113.9", "127.0.0.1", "198.51.100.1"),  # not from the proxy
    ("127.0.0.1", "203.0.113.9", "127.0.0.1", "203.0.113.9"),
    ("127.0.0.1", "6.6.6.6, 203.0.113.9", "127.0.0.1", "203.0.113.9"),  # left of the proxy's entry: forged
    ("10.1.0.7", "6.6.6.6, 203.0.113.9, 10.1.0.3", "127.0.0.1, 10.1.0.0/24", "203.0.113.9"),  # two proxies, a CIDR
    ("127.0.0.1", "not-an-ip, 10.1.0.3", "127.0.0.1,10.1.0.0/24", "10.1.0.3"),  # malformed: stop at the last proxy
    ("127.0.0.1", "", "127.0.0.1", "127.0.0.1"),
    ("::1", "2001:db8::5", "::1", "2001:db8::5"),
])
def test_forwarded_for_is_believed_only_from_trusted_proxies(peer, header, trusted, expected):
    assert forwarded_client(peer, header, trusted_networks(trusted)) == expected


def test_a_bad_trusted_proxy_entry_is_named():
    with pytest.raises(ValueError, match="'proxy.local' is not an IP address"):
        trusted_networks("127.0.0.1, proxy.local")


@pytest.mark.parametrize("purpose", ["", "   ", ".", "x", "patrol", "..........", "1234567890",
                                     "robbery\nfollow-up", "robbery\x00follow-up"])
def test_a_purpose_must_say_something(purpose):
    assert purpose_refusal(purpose, 10)
    assert refusal("search_reads", "officer", purpose, "", POLICY.purpose_min_length)


@pytest.mark.parametrize("purpose", ["robbery follow-up", "BOLO 26-117", "Überfall Nachprüfung"])
def test_a_real_purpose_passes(purpose):
    assert purpose_refusal(purpose, 10) is None
    assert refusal("search_reads", "officer", purpose, "", POLICY.purpose_min_length) is None


def test_the_purpose_length_comes_from_the_policy():
    assert purpose_refusal("BOLO check", 10) is None
    assert "at least 20" in purpose_refusal("BOLO check", 20)


@pytest.mark.parametrize("change", ["set-role", "record-training", "record-certification", "record-policy-review",
                                    "record-contractor-vetting"])
def test_an_admin_may_not_vouch_for_themselves(change):
    chief, other = user("chief", "admin"), user("dep", "admin")
    after = apply_change(chief, change, POLICY, role="admin", on=TODAY, until=TODAY, waiver_signed=TODAY)
    assert "own account" in change_refusal(chief, chief, after, change, [chief, other], TODAY, POLICY)
    assert change_refusal(other, chief, after, change, [chief, other], TODAY, POLICY) is None


def test_the_last_working_admin_stays():
    chief, dep = user("chief", "admin"), user("dep", "admin", locked=True)
    for change, values in (("disable", {}), ("set-role", {"role": "auditor"})):
        after = apply_change(chief, change, POLICY, **values)
        # dep is locked, so chief is the last admin who can act; another actor is shown for the rule's sake
        assert "no enabled, unlocked admin" in change_refusal(dep, chief, after, change, [chief, dep], TODAY, POLICY)
    assert change_refusal(chief, chief, apply_change(chief, "disable", POLICY), "disable",
                          [chief, user("dep", "admin")], TODAY, POLICY) is None


def test_dates_beyond_the_policy_are_refused():
    ofc = user("ofc")
    tomorrow = TODAY + timedelta(days=1)
    for change, values, reason in (
            ("record-training", {"on": tomorrow}, "training date may not be in the future"),
            ("record-policy-review", {"on": tomorrow}, "policy review date may not be in the future"),
            ("record-contractor-vetting", {"on": TODAY, "waiver_signed": tomorrow}, "waiver date"),
            ("record-certification", {"until": date(2028, 12, 4)}, "at most 2 years")):
        after = apply_change(ofc, change, POLICY, **values)
        assert reason in change_refusal(user("chief", "admin"), ofc, after, change, [], TODAY, POLICY)
    assert dates_refusal(None, user("ofc", certified_until=date(2028, 12, 3), trained_at=TODAY), TODAY, POLICY) is None
    assert add_years(date(2028, 2, 29), 2) == date(2030, 2, 28)


def test_break_glass_is_for_local_root_and_the_only_admin():
    chief = user("chief", "admin", locked=True)
    assert break_glass_refusal(chief, "chief", [chief], euid=1000) == "break-glass needs local root"
    assert break_glass_refusal(chief, "chief", [chief], euid=0) is None
    assert "another admin" in break_glass_refusal(chief, "chief", [chief, user("dep", "admin")], euid=0)
    assert break_glass_refusal(chief, "chief", [chief, user("dep", "admin", disabled=True)], euid=0) is None
    assert "not an admin" in break_glass_refusal(user("ofc"), "ofc", [], euid=0)
    assert break_glass_refusal(None, "ghost", [], euid=0) == "no user ghost"
