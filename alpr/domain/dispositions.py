"""What happens to a hit after it is published (policy 820.8), as a state machine enforced on the server.

A hit is a lead, not a confirmation. At a fixed site the dispatcher confirms it is not a misread,
broadcasts the nature of the hit, the vehicle, the plate and the site to patrol, checks it through
CLETS and broadcasts the result; an officer with a mobile system verifies the plate on the vehicle
by eye and confirms its status through CLETS, unless Communications already did. Each step names who
may take it and what it must record; a step out of order is refused with the reason.

    fixed:  new -> not_misread | misread (corrected plate, ends it) -> broadcast (channel)
            -> clets_checked (result code, reference) -> results_broadcast -> closed (outcome)
    mobile: new -> visually_verified | misread -> clets_confirmed (skipped when Communications has a
            CLETS check on record: record_clets_check by a dispatcher) -> closed (outcome)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FIXED, MOBILE = "fixed", "mobile"
NEW, CLOSED, MISREAD = "new", "closed", "misread"


class StepRefused(ValueError):
    """The step cannot be taken now; the message says why and what the hit's state is."""


@dataclass(frozen=True)
class Step:
    """One action of the workflow: from which states, to which state, by which roles, recording what."""

    action: str
    site: str
    from_states: tuple[str, ...]
    to_state: str | None  # None: the step is recorded and the state stays
    roles: frozenset[str]
    needs: tuple[str, ...] = ()  # fields the step must record


DISPATCH = frozenset({"dispatcher"})
PATROL = frozenset({"officer"})
STEPS = (
    Step("confirm_not_misread", FIXED, (NEW,), "not_misread", DISPATCH),
    Step("mark_misread", FIXED, (NEW,), MISREAD, DISPATCH, ("corrected_plate",)),
    Step("broadcast", FIXED, ("not_misread",), "broadcast", DISPATCH, ("channel",)),
    Step("record_clets_check", FIXED, ("broadcast",), "clets_checked", DISPATCH, ("result_code", "reference")),
    Step("broadcast_results", FIXED, ("clets_checked",), "results_broadcast", DISPATCH, ("channel",)),
    Step("close", FIXED, ("results_broadcast",), CLOSED, DISPATCH, ("outcome",)),
    Step("verify_visually", MOBILE, (NEW,), "visually_verified", PATROL),
    Step("mark_misread", MOBILE, (NEW,), MISREAD, PATROL, ("corrected_plate",)),
    Step("confirm_clets", MOBILE, ("visually_verified",), "clets_confirmed", PATROL, ("result_code", "reference")),
    # Communications may run a mobile unit's hit through CLETS for the officer, at any point before closing
    Step("record_clets_check", MOBILE, (NEW, "visually_verified"), None, DISPATCH, ("result_code", "reference")),
    # Communications already ran the plate through CLETS: the officer closes after the visual check
    Step("close", MOBILE, ("clets_confirmed", "visually_verified"), CLOSED, PATROL, ("outcome",)),
)
ACTIONS = sorted({s.action for s in STEPS})
MAX_FIELD = 200


def misread_key(camera_id: str, read_plate: str, list_name: str, entry_id: str) -> str:
    """The Redis key that marks a known misread: this camera reading this plate as this list entry
    (set when dispatch marks a hit misread; the flow raises no hit while it lasts)."""
    return f"alpr:known-misread:{camera_id}:{read_plate}:{list_name}:{entry_id}"


# A fixed-site hit patrol has been told of: from the dispatcher's broadcast on (a fixed hit closes only
# after its results were broadcast).
BROADCAST_STATES = frozenset({"broadcast", "clets_checked", "results_broadcast", CLOSED})


def visible_to(role: str, unit: str, camera_id: str, site: str, state: str) -> bool:
    """Whether the console shows this hit to this user: officers see their own mobile unit's hits and
    the fixed-site hits dispatch broadcast; the other roles allowed to view hits see every hit."""
    if role != "officer":
        return True
    if site == MOBILE:
        return bool(unit) and camera_id == unit
    return state in BROADCAST_STATES


def mobile_prefixes(text: str) -> list[str]:
    """``dispatch.mobile_camera_prefixes`` ("mobile-, unit-") as a list."""
    return [p.strip() for p in text.split(",") if p.strip()]


def site_of(camera_id: str, prefixes: str) -> str:
    """Fixed site or mobile unit, by the camera id's prefix (``dispatch.mobile_camera_prefixes``)."""
    return MOBILE if any(camera_id.startswith(p) for p in mobile_prefixes(prefixes)) else FIXED


def communications_checked(actions: Iterable[str]) -> bool:
    """Whether Communications has a CLETS check on record among a hit's steps."""
    return "record_clets_check" in actions


def _waits_for_clets(site: str, state: str, action: str, communications_checked: bool) -> bool:
    """A mobile hit closes after the visual check only when Communications already ran it through CLETS."""
    return site == MOBILE and action == "close" and state == "visually_verified" and not communications_checked


def next_steps(site: str, state: str, role: str, communications_checked: bool = False) -> list[Step]:
    """The steps this role may take on the hit now, for the console to offer (``next_state`` still
    decides)."""
    out = []
    for step in STEPS:
        if step.site != site or state not in step.from_states or role not in step.roles:
            continue
        if _waits_for_clets(site, state, step.action, communications_checked):
            continue
        out.append(step)
    return out


def next_state(site: str, state: str, action: str, role: str, fields: dict[str, str],
               communications_checked: bool = False) -> str:
    """The state after ``action``, or StepRefused saying why it cannot be taken."""
    steps = [s for s in STEPS if s.site == site and s.action == action]
    if not steps:
        allowed = sorted({s.action for s in STEPS if s.site == site})
        raise StepRefused(f"{action!r} is not a step of a {site} hit (steps: {', '.join(allowed)})")
    step = next((s for s in steps if state in s.from_states), None)
    if step is None:
        raise StepRefused(f"the hit is {state}: {action.replace('_', ' ')} comes after "
                          f"{' or '.join(sorted({f for s in steps for f in s.from_states}))}")
    if _waits_for_clets(site, state, action, communications_checked):
        raise StepRefused("the hit is visually_verified: confirm its status through CLETS before closing "
                          "(no CLETS check by Communications is on record)")
    if role not in step.roles:
        raise StepRefused(f"role {role} may not {action.replace('_', ' ')} on a {site} hit "
                          f"(roles: {', '.join(sorted(step.roles))})")
    missing = [n for n in step.needs if not fields.get(n, "").strip()]
    if missing:
        raise StepRefused(f"{action.replace('_', ' ')} must record {', '.join(missing)}")
    too_long = [n for n, v in fields.items() if len(v) > MAX_FIELD or not v.isprintable()]
    if too_long:
        raise StepRefused(f"fields {', '.join(sorted(too_long))}: at most {MAX_FIELD} printable characters")
    return step.to_state or state
