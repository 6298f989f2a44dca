"""Who may do what: the one table of actions and the roles allowed each (least privilege).

Every action that touches LPR data (reads, images, hits, hot-list details, evidence, SQL) needs a
stated purpose; actions on a case need its case number. Anything not in this table is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

OFFICER, DISPATCHER, IT_STAFF, CONTRACTOR = "officer", "dispatcher", "it_staff", "contractor"
ANALYST, AUDITOR, APPROVER, ADMIN = "analyst", "auditor", "approver", "admin"
RECORDS = "records"  # the Chief's Administrative Assistant, who keeps the file of sharing requests (820.6)
ROLES = (OFFICER, DISPATCHER, IT_STAFF, CONTRACTOR, ANALYST, AUDITOR, APPROVER, ADMIN, RECORDS)
EVERYONE = frozenset(ROLES)


@dataclass(frozen=True)
class Action:
    roles: frozenset[str]
    purpose: bool = True  # a stated purpose is required
    case: bool = False  # a case number is required
    lpr_data: bool = True  # touches reads, images, hits or hot-list details


INVESTIGATORS = frozenset({OFFICER, DISPATCHER, ANALYST, APPROVER})

ACTIONS: dict[str, Action] = {
    # LPR data
    "search_reads": Action(INVESTIGATORS),
    "view_read": Action(INVESTIGATORS),
    "view_image": Action(INVESTIGATORS),
    "view_hotlist_entry": Action(frozenset({OFFICER, DISPATCHER, APPROVER})),
    # hits and their workflow (policy 820.8): the steps' own roles are in alpr.domain.dispositions
    "view_hits": Action(frozenset({OFFICER, DISPATCHER, APPROVER})),
    "dispose_hit": Action(frozenset({OFFICER, DISPATCHER})),
    "export_feedback": Action(frozenset({ANALYST, APPROVER})),  # misread crops, labelled, for training
    "run_sql": Action(frozenset({ANALYST})),
    "hold_evidence": Action(frozenset({OFFICER, ANALYST, APPROVER}), case=True),
    "release_evidence": Action(frozenset({APPROVER}), case=True),
    "export_evidence": Action(frozenset({ANALYST, APPROVER}), case=True),
    "verify_evidence": Action(INVESTIGATORS | {AUDITOR}, purpose=False, lpr_data=False),
    # hot lists: every change decides which plates raise hits (or never do), so it names its purpose.
    # Dispatchers enter BOLOs by hand as calls come in, at any hour; removing, ending or replacing
    # entries can silence hits, so that needs an approver (or an admin, who runs the imports).
    "add_hotlist_entry": Action(frozenset({DISPATCHER, APPROVER, ADMIN}), lpr_data=False),
    "edit_hotlist": Action(frozenset({APPROVER, ADMIN}), lpr_data=False),  # remove, expire, sweep, import
    "edit_skip_list": Action(frozenset({APPROVER, ADMIN}), lpr_data=False),  # a skipped plate never raises a hit
    # keys re-seal entries but change no match: IT runs them, without LPR data or a purpose
    "manage_hotlist_keys": Action(frozenset({IT_STAFF, ADMIN}), purpose=False, lpr_data=False),
    # sharing with other agencies on a written request (policy 820.6): records keeps the file, an approver
    # of an approving rank decides, an analyst or approver sends exactly what was approved
    "add_share_request": Action(frozenset({RECORDS, APPROVER}), purpose=False, lpr_data=False),
    "view_share_requests": Action(frozenset({RECORDS, APPROVER, AUDITOR}), purpose=False, lpr_data=False),
    "decide_share_request": Action(frozenset({APPROVER}), purpose=False, lpr_data=False),
    "fulfil_share_request": Action(frozenset({ANALYST, APPROVER})),  # its case number is the request's
    "share_transparency_report": Action(frozenset({RECORDS, AUDITOR, APPROVER}), purpose=False, lpr_data=False),
    "purge_share_requests": Action(frozenset({RECORDS}), purpose=False, lpr_data=False),
    # oversight
    "audit_search": Action(frozenset({AUDITOR}), lpr_data=False),
    "audit_report": Action(frozenset({AUDITOR}), lpr_data=False),
    "audit_verify": Action(frozenset({AUDITOR}), lpr_data=False),
    "audit_checkpoint": Action(frozenset({AUDITOR}), lpr_data=False),
    "audit_rotate_key": Action(frozenset({ADMIN}), purpose=False, lpr_data=False),  # keys, not the log's contents
    # pass or fail per policy clause, with counts and names of lapsed users but no LPR data; IT runs it nightly
    "compliance_report": Action(frozenset({AUDITOR, ADMIN, IT_STAFF}), purpose=False, lpr_data=False),
    "retention_report": Action(frozenset({IT_STAFF, AUDITOR, ADMIN}), purpose=False, lpr_data=False),
    "retention_enforce": Action(frozenset({IT_STAFF, ADMIN}), purpose=False, lpr_data=False),
    # accounts
    "manage_users": Action(frozenset({ADMIN}), purpose=False, lpr_data=False),
    "view_users": Action(frozenset({ADMIN, AUDITOR}), purpose=False, lpr_data=False),
    "change_own_password": Action(EVERYONE, purpose=False, lpr_data=False),
}


def purpose_refusal(purpose: str, min_length: int) -> str | None:
    """Why a stated purpose says too little to be reviewed later ('.', 'x', '???'); None when it will do."""
    text = purpose.strip()
    if not text:
        return "a purpose is required"
    if not text.isprintable():
        return "the purpose may contain printable characters only"
    if len(text) < min_length or not any(c.isalpha() for c in text):
        return f"the purpose must say why, in words (at least {min_length} characters)"
    return None


def refusal(action: str, role: str, purpose: str, case_id: str, purpose_min_length: int = 10) -> str | None:
    """Why this role may not do this action with this purpose and case; None when it may."""
    rule = ACTIONS.get(action)
    if rule is None:
        return f"unknown action {action!r}"
    if role not in rule.roles:
        return f"role {role} may not {action.replace('_', ' ')}"
    if rule.purpose and (why := purpose_refusal(purpose, purpose_min_length)):
        return why
    if rule.case and not case_id.strip():
        return "a case number is required"
    return None


def table() -> list[tuple[str, list[str], bool, bool]]:
    """(action, roles, purpose required, case required), for the docs and `alpr users roles`."""
    return [(name, sorted(a.roles), a.purpose, a.case) for name, a in ACTIONS.items()]
