"""Logon sessions in Redis: an opaque token, 12 hours at most and 30 minutes idle (policy defaults).

Only the token's SHA-256 is stored, so reading Redis does not yield usable sessions. The idle limit
is the key's TTL, renewed on each use; the absolute limit is checked against the creation time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis

from alpr.config import PolicyConfig


@dataclass(frozen=True)
class Session:
    username: str
    created_at: float
    client_ip: str


class Sessions:
    def __init__(self, r: redis.Redis, policy: PolicyConfig, namespace: str = "alpr"):
        self.redis = r
        self.idle_s = policy.session_idle_min * 60
        self.max_s = policy.session_hours * 3600
        self.prefix = f"{namespace}:session:"

    def _key(self, token: str) -> str:
        return self.prefix + hashlib.sha256(token.encode()).hexdigest()

    def start(self, username: str, client_ip: str) -> str:
        token = secrets.token_urlsafe(32)
        self.redis.hset(self._key(token), mapping={"username": username, "created_at": time.time(), "ip": client_ip})
        self.redis.expire(self._key(token), self.idle_s)
        return token

    def get(self, token: str, renew: bool = True) -> Session | None:
        """The live session for this token (renewing its idle timer), or None when expired or unknown."""
        if not token:
            return None
        key = self._key(token)
        data = self.redis.hgetall(key)
        if not data:
            return None
        created = float(data[b"created_at"])
        if time.time() - created > self.max_s:
            self.redis.delete(key)
            return None
        if renew:
            self.redis.expire(key, self.idle_s)
        return Session(data[b"username"].decode(), created, data[b"ip"].decode())

    def peek(self, token: str) -> Session | None:
        """The live session, without counting this look as activity."""
        return self.get(token, renew=False)

    def end(self, token: str) -> None:
        self.redis.delete(self._key(token))

    def end_all(self, username: str) -> None:
        """Log a user out everywhere (disabled, locked, role or password changed)."""
        for key in self.redis.scan_iter(self.prefix + "*"):
            if self.redis.hget(key, "username") == username.encode():
                self.redis.delete(key)
