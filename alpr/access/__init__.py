"""The access gate every request passes (logon, eligibility, roles, purpose, audit) and sessions."""
