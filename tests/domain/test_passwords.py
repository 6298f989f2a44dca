import base64

import pytest

from alpr.domain import passwords
from alpr.domain.passwords import PasswordRejected, check_policy, hash_password, needs_rehash, verify_password

SECRET = "correct-horse-battery-staple-91"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(SECRET)


def test_round_trip_and_format(stored):
    scheme, log2_n, r, p, salt, digest = stored.split("$")
    assert (scheme, log2_n, r, p) == ("scrypt", "15", "8", "1")
    assert len(base64.b64decode(salt + "==")) == 16 and len(base64.b64decode(digest + "=")) == 32
    assert verify_password(SECRET, stored)
    assert not needs_rehash(stored)


def test_wrong_password_fails(stored):
    assert not verify_password("correct-horse-battery-staple-92", stored)
    assert not verify_password("", stored)


def test_same_password_gets_a_fresh_salt(stored):
    again = hash_password(SECRET)
    assert again != stored and again.split("$")[4] != stored.split("$")[4]
    assert verify_password(SECRET, again)


def test_unicode_forms_verify_alike():
    encoded = hash_password("caf\u00e9-au-lait-du-matin")  # composed é
    assert verify_password("cafe\u0301-au-lait-du-matin", encoded)  # e + combining accent


def _flip_last_char(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.replace("$", "#"),
        lambda s: s.rsplit("$", 1)[0],  # field missing
        lambda s: s + "$extra",
        lambda s: "bcrypt" + s[len("scrypt") :],
        lambda s: s.replace("scrypt$15$", "scrypt$40$"),  # absurd cost must not allocate
        lambda s: s.replace("scrypt$15$8$", "scrypt$15$0$"),
        lambda s: s.replace("scrypt$15$8$1$", "scrypt$15$8$x$"),
        lambda s: s[:-3] + "!!!",  # not base64
        lambda s: s.rsplit("$", 1)[0] + "$QUJD",  # digest too short
        lambda s: s + "\n",
        lambda s: "",
        lambda s: None,
        lambda s: 42,
    ],
)
def test_malformed_encodings_return_false(stored, mangle):
    bad = mangle(stored)
    assert verify_password(SECRET, bad) is False
    assert needs_rehash(bad) is True


def test_tampered_hash_or_salt_fails(stored):
    head, salt, digest = stored.rsplit("$", 2)
    assert not verify_password(SECRET, f"{head}${salt}${_flip_last_char(digest[:-1]) + digest[-1]}")
    assert not verify_password(SECRET, f"{head}${_flip_last_char(salt[:-1]) + salt[-1]}${digest}")


def test_weaker_parameters_still_verify_but_need_rehash(monkeypatch):
    monkeypatch.setattr(passwords, "LOG2_N", 10)
    old = hash_password(SECRET)
    monkeypatch.undo()
    assert old.startswith("scrypt$10$8$1$")
    assert verify_password(SECRET, old)
    assert needs_rehash(old)


def test_policy_rejects_short():
    with pytest.raises(PasswordRejected, match="at least 12 characters"):
        check_policy("Xq7#vR2!", "jdoe")
    with pytest.raises(PasswordRejected, match="at least 20"):
        check_policy(SECRET[:15], "jdoe", min_length=20)


def test_policy_rejects_username_case_insensitively():
    with pytest.raises(PasswordRejected, match="username"):
        check_policy("velvet-JDoe-orchard-meadow", "jdoe")


@pytest.mark.parametrize(
    "common", ["password123456", "qwertyuiop123", "iloveyou1234", "Summer2024!!!!", "TRUSTNO1trustno1", "!!Sunshine2025!"]
)
def test_policy_rejects_common_passwords(common):
    with pytest.raises(PasswordRejected, match="common|too easy to guess"):
        check_policy(common, "jdoe")


def test_policy_rejects_low_score_with_clear_reason():
    with pytest.raises(PasswordRejected, match="^Password is too easy to guess: "):
        check_policy("aaaaaaaaaaaaaaaa", "jdoe")


def test_policy_accepts_a_long_random_passphrase():
    check_policy(SECRET, "jdoe")
    check_policy("x" * 10 + SECRET * 4, "jdoe")  # beyond zxcvbn's 72-character limit


def test_rejection_is_a_value_error():
    assert issubclass(PasswordRejected, ValueError)
