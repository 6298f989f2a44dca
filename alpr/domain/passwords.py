"""Password hashing and the password policy for operator accounts.

Hashes use scrypt (memory-hard, so GPU guessing of a stolen table is expensive) and are stored as one
self-describing string, ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``: the parameters travel with
each hash, so they can be raised later while old hashes still verify (and ``needs_rehash`` says when
to upgrade one at the next successful login).

The policy follows NIST SP 800-63B: a minimum length and a check against a list of common or
compromised passwords, here the 30,000-entry password list shipped offline by the maintained
``zxcvbn`` package, plus zxcvbn's guessability score.
"""

from __future__ import annotations

import base64
import functools
import hmac
import os
import re
import threading
import unicodedata

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCHEME = "scrypt"
LOG2_N = 15  # n = 2**15: ~50-200 ms and 32 MiB per hash
R = 8
P = 1
KEY_LEN = 32
SALT_LEN = 16
# A stored hash names its own cost; cap it so a tampered row cannot make verify allocate gigabytes.
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", fine behind a slow hash
_ZXCVBN_MAX_LEN = 72  # zxcvbn refuses longer input; the first 72 characters decide

_ENCODED = re.compile(r"scrypt\$(\d{1,2})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)", re.ASCII)


class PasswordRejected(ValueError):
    """The password breaks the policy; ``str(exc)`` is a reason fit to show the user."""


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _normalize(password: str) -> bytes:
    """NFKC first, so the same password typed on different keyboards/clients hashes the same."""
    return unicodedata.normalize("NFKC", password).encode("utf-8", "surrogatepass")


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, length: int) -> bytes:
    return Scrypt(salt=salt, length=length, n=2**log2_n, r=r, p=p).derive(_normalize(password))


def hash_password(password: str) -> str:
    """Salted, deliberately slow hash of ``password`` in the self-describing scrypt format."""
    salt = os.urandom(SALT_LEN)
    digest = _scrypt(password, salt, LOG2_N, R, P, KEY_LEN)
    return f"{SCHEME}${LOG2_N}${R}${P}${_b64encode(salt)}${_b64encode(digest)}"


def _parse(encoded: object) -> tuple[int, int, int, bytes, bytes] | None:
    """(log2 n, r, p, salt, hash), or None when the string is not a hash this module can check safely."""
    if not isinstance(encoded, str):
        return None
    m = _ENCODED.fullmatch(encoded)
    if m is None:
        return None
    log2_n, r, p = int(m[1]), int(m[2]), int(m[3])
    if log2_n < 1 or r < 1 or not 1 <= p <= 16 or 128 * r * 2**log2_n > MAX_SCRYPT_MEMORY:
        return None
    try:
        salt, digest = _b64decode(m[4]), _b64decode(m[5])
    except ValueError:
        return None
    if not salt or not 16 <= len(digest) <= 64:
        return None
    return log2_n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False, never an exception, for a malformed hash."""
    parsed = _parse(encoded)
    if parsed is None or not isinstance(password, str):
        return False
    log2_n, r, p, salt, digest = parsed
    try:
        candidate = _scrypt(password, salt, log2_n, r, p, len(digest))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, digest)


def needs_rehash(encoded: str) -> bool:
    """True when ``encoded`` is weaker than what ``hash_password`` makes now (or is unreadable)."""
    parsed = _parse(encoded)
    if parsed is None:
        return True
    log2_n, r, p, salt, digest = parsed
    return log2_n < LOG2_N or r < R or p < P or len(salt) < SALT_LEN or len(digest) < KEY_LEN


@functools.cache
def _common_passwords() -> frozenset[str]:
    """zxcvbn's list of the 30,000 most common leaked passwords (lowercase), shipped in the package."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


# zxcvbn keeps the user inputs in a module-level dict, so concurrent calls must not interleave.
_zxcvbn_lock = threading.Lock()


def _strip_trailing(text: str) -> str:
    end = len(text)
    while end and not text[end - 1].isalpha():
        end -= 1
    return text[:end]


def _strip_ends(text: str) -> str:
    start = 0
    while start < len(text) and not text[start].isalpha():
        start += 1
    return _strip_trailing(text[start:])


def check_policy(password: str, username: str, min_length: int = 12) -> None:
    """Raise ``PasswordRejected`` with a user-facing reason when ``password`` is too weak for ``username``."""
    if len(password) < min_length:
        raise PasswordRejected(f"Password is too short: use at least {min_length} characters (it has {len(password)}).")
    user = username.strip().casefold()
    if user and user in password.casefold():
        raise PasswordRejected("Password must not contain your username.")
    lowered = password.lower()
    # "Summer2024!" is "summer" plus a suffix that guessing tools try first.
    candidates = {lowered, _strip_trailing(lowered), _strip_ends(lowered)} - {""}
    if candidates & _common_passwords():
        raise PasswordRejected("Password is on a list of common or leaked passwords; choose something else.")
    from zxcvbn import zxcvbn

    with _zxcvbn_lock:
        result = zxcvbn(password[:_ZXCVBN_MAX_LEN], user_inputs=[username] if user else [])
    if result["score"] < MIN_SCORE:
        hint = result["feedback"].get("warning") or "it follows a predictable pattern."
        raise PasswordRejected(f"Password is too easy to guess: {hint} Try a longer phrase of unrelated words.")
