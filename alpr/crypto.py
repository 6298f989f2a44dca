"""AES-256-GCM sealing of hot-list fields, with a key id beside each record so keys can rotate.

Keys never live in the repository: they come from ``ALPR_HOTLIST_KEY`` (``kid:base64``) or a key
file with one ``kid base64`` line per key, the last line being the key used for new records.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, timezone
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class UnknownKeyError(LookupError):
    """A record was sealed with a key this keyring does not hold."""


class KeyUnavailable(FileNotFoundError):
    """A key file (hot list, access log) is missing or holds no usable key; the message says which."""


def parse_key_lines(text: str) -> tuple[dict[str, bytes], str]:
    """Keys by id from ``kid base64`` (or ``kid:base64``) lines, and the id of the last one, which
    seals or signs new records; blank lines and ``#`` comments are skipped. Key files of the hot
    lists and of the access log share this form."""
    keys: dict[str, bytes] = {}
    current = ""
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kid, _, b64 = line.replace(":", " ", 1).partition(" ")
        try:
            keys[kid] = base64.b64decode(b64.strip(), validate=True)
        except ValueError as exc:
            raise ValueError(f"key line {n}: not base64") from exc
        current = kid
    return keys, current


class Keyring:
    def __init__(self, keys: dict[str, bytes], current: str):
        if current not in keys:
            raise ValueError(f"current key {current!r} is not in the keyring")
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"key {kid!r} must be 32 bytes (AES-256), got {len(key)}")
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current = current

    def __repr__(self) -> str:  # never print key material
        return f"Keyring(current={self.current!r}, keys={sorted(self._aead)})"

    @classmethod
    def parse(cls, text: str) -> "Keyring":
        keys, current = parse_key_lines(text)
        if not keys:
            raise ValueError("no keys found")
        return cls(keys, current)

    @classmethod
    def load(cls, key_file: Path, environ: dict | None = None) -> "Keyring":
        env = os.environ if environ is None else environ
        if env.get("ALPR_HOTLIST_KEY"):
            source, text = "ALPR_HOTLIST_KEY", env["ALPR_HOTLIST_KEY"]
        elif not key_file.exists():
            raise KeyUnavailable(
                f"hot-list key file {key_file} does not exist: create one with `alpr hotlist keygen` "
                "or set ALPR_HOTLIST_KEY"
            )
        else:
            source, text = str(key_file), key_file.read_text()
        try:
            return cls.parse(text)
        except ValueError as exc:
            raise KeyUnavailable(f"hot-list key in {source} is unusable: {exc}") from None

    def seal(self, fields: dict, aad: bytes) -> dict[str, str]:
        nonce = os.urandom(12)
        plain = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
        ct = self._aead[self.current].encrypt(nonce, plain, aad)
        return {"kid": self.current, "nonce": base64.b64encode(nonce).decode(), "ct": base64.b64encode(ct).decode()}

    def open(self, sealed: dict[str, str], aad: bytes) -> dict:
        aead = self._aead.get(sealed["kid"])
        if aead is None:
            raise UnknownKeyError(f"no key {sealed['kid']!r} in the keyring")
        plain = aead.decrypt(base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ct"]), aad)
        return orjson.loads(plain)


def generate_key_file(path: Path) -> str:
    """Append a fresh key to the key file (created 0600); return its key id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kid = "k" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + os.urandom(2).hex()
    line = f"{kid} {base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        fh.write(line)
    return kid
