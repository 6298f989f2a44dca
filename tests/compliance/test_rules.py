"""The rules behind the live checks, on the data shapes the checks read: hot-list records, the command
and route surface, users, and how check results make a clause's result."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import date, timedelta

from alpr.compliance.rules import (
    FAIL,
    NOT_CHECKED,
    PASS,
    Surface,
    clause_result,
    lapsed,
    record_problems,
    stale_classifications,
    surface_problems,
)
from alpr.config import PolicyConfig
from alpr.crypto import Keyring
from alpr.store.users import User

TODAY = date(2026, 12, 4)
KEYRING = Keyring({"k1": bytes(range(32))}, "k1")


def sealed_record() -> dict:
    """A record as alpr.hotlists.store writes it."""
    return {"plate": "7ABC123", "id": "e1", **KEYRING.seal({"reason": "stolen", "owner": "Jo Doe"}, b"aad"),
            "at": 1764800000, "by": "disp.ada"}


def test_a_sealed_record_passes():
    rec = sealed_record()
    assert set(rec) == {"plate", "id", "kid", "nonce", "ct", "at", "by"}
    assert record_problems(rec) == []
    assert record_problems({**rec, "exp": 1764900000}) == []
    assert record_problems({**rec, "st": "MT"}) == []  # the issuing state: part of the plate, a USPS code


def test_the_state_beside_the_plate_cannot_carry_free_text():
    rec = sealed_record()
    assert record_problems({**rec, "st": "stolen from Jo Doe"}) == ["st 'stolen f' is not a state code"]
    assert record_problems({**rec, "st": "XX"}) == ["st 'XX' is not a state code"]


def test_a_hot_list_record_with_a_plaintext_field_is_caught():
    rec = sealed_record()
    assert record_problems({**rec, "owner": "Jo Doe"}) == ["fields outside the sealed layout: owner"]
    plain = base64.b64encode(json.dumps({"reason": "stolen"}).encode()).decode()
    assert record_problems({**rec, "ct": plain}) == ["ct decodes to readable text, not ciphertext"]
    assert record_problems({**rec, "ct": '{"reason": "stolen"}'}) == ["ct is not base64 ciphertext"]
    assert record_problems({**rec, "ct": base64.b64encode(b"warrant for Jo Doe, armed").decode()}) == [
        "ct decodes to readable text, not ciphertext"]
    no_ct = {k: v for k, v in rec.items() if k != "ct"}
    assert record_problems({**no_ct, "fields": {"reason": "stolen"}}) == ["fields outside the sealed layout: fields",
                                                                         "missing ct"]
    assert record_problems("7ABC123,stolen") == ["a record is str, not an object"]


def surface(**changes) -> Surface:
    s = Surface(commands=["search", "hotlist show", "hotlist lists", "share add", "share decide", "config show"],
                routes=["/v1/reads", "/v1/healthz", "/v1/logon"],
                audited_commands={"search": ("search_reads",), "hotlist show": ("view_hotlist_entry",),
                                  "share": ("add_share_request", "decide_share_request")},
                unaudited_commands={"hotlist lists": "no entries", "config": "operations"},
                route_actions={"/v1/reads": "search_reads", "/v1/logon": "logon"},
                public_routes={"/v1/healthz": "liveness"}, gate_events=("logon",))
    return replace(s, **changes)


def test_a_classified_surface_passes():
    assert surface_problems(surface(), {"search_reads", "view_hotlist_entry", "add_share_request",
                                        "decide_share_request"}) == []


def test_an_unclassified_command_or_route_is_caught():
    actions = {"search_reads", "view_hotlist_entry", "add_share_request", "decide_share_request"}
    s = surface(commands=["search", "hotlist show", "hotlist lists", "hotlist purge", "share add", "config show"])
    assert surface_problems(s, actions) == ["command `alpr hotlist purge` is not classified"]
    s = surface(routes=["/v1/reads", "/v1/healthz", "/v1/logon", "/v1/reads/export"])
    assert surface_problems(s, actions) == ["route /v1/reads/export is not classified"]
    s = surface(route_actions={"/v1/reads": "search_everything", "/v1/logon": "logon"})
    assert surface_problems(s, actions) == ["route /v1/reads records 'search_everything', which the role table lacks"]
    assert surface_problems(surface(), actions - {"decide_share_request"}) == [
        "command `alpr share` records 'decide_share_request', which the role table lacks"]
    assert surface_problems(surface(gate_events=()), actions) == [
        "route /v1/logon records 'logon', which the role table lacks"]


def test_a_classification_of_a_command_that_is_gone_is_stale():
    assert stale_classifications(surface()) == []
    assert stale_classifications(surface(commands=["search", "hotlist show", "hotlist lists", "config show"])) == ["share"]


def user(name: str, **changes) -> User:
    current = User(name, name, "City PD", "officer", trained_at=TODAY - timedelta(days=30),
                   certified_until=TODAY + timedelta(days=200), policy_reviewed_at=TODAY - timedelta(days=30))
    return replace(current, **changes)


def test_lapsed_users_are_named_and_disabled_ones_are_not():
    policy = PolicyConfig()
    people = [
        user("ok.one"),
        user("cert.gone", certified_until=TODAY - timedelta(days=1)),
        user("review.old", policy_reviewed_at=TODAY - timedelta(days=400)),
        user("never.trained", trained_at=None),
        user("contractor.x", role="contractor"),
        user("gone.away", certified_until=TODAY - timedelta(days=100), disabled=True),  # disabled: kept out already
        user("locked.out", locked=True),
    ]
    assert lapsed(people, TODAY, policy) == [
        ("cert.gone", f"CLETS certification expired on {TODAY - timedelta(days=1)}"),
        ("contractor.x", "contractor vetting or signed waiver missing"),
        ("never.trained", "training not recorded"),
        ("review.old", f"policy review older than {policy.policy_review_days} days"),
    ]
    vetted = user("contractor.y", role="contractor", vetted_at=TODAY, waiver_signed_at=TODAY)
    assert lapsed([vetted, user("ok.two")], TODAY, policy) == []


def test_a_clause_fails_with_any_failing_check_and_passes_only_when_all_ran():
    assert clause_result([PASS, PASS]) == PASS
    assert clause_result([PASS, FAIL]) == FAIL
    assert clause_result([NOT_CHECKED, FAIL]) == FAIL
    assert clause_result([PASS, NOT_CHECKED]) == NOT_CHECKED
    assert clause_result([]) == NOT_CHECKED
