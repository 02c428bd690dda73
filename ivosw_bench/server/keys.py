"""User keys: ``ivb_<key id>_<secret>``, shown once when made, stored as SHA-256 of the secret.

The key id (16 hex characters, not secret) finds the user; the secret (32 random bytes, URL-safe) is
checked with :func:`hmac.compare_digest` against its stored hash, so the comparison takes the same
time wherever the first differing byte is. A plain hash suffices: the secret has 256 bits of
entropy, so there is no dictionary to slow down (a password hash would only slow every request).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "ivb"
KEY_RE = re.compile(r"^ivb_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
USER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DUMMY_HASH = hashlib.sha256(b"no such key").digest()


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: the text to give the user once, and what is stored."""

    key: str
    key_id: str
    key_hash: bytes


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def new_key() -> NewKey:
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return NewKey(f"{PREFIX}_{key_id}_{secret}", key_id, secret_hash(secret))


def split_key(text: str | None) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    m = KEY_RE.match(text or "")
    return (m.group(1), m.group(2)) if m else None


def matches(secret: str | None, stored_hash: bytes | None) -> bool:
    """Whether ``secret`` hashes to ``stored_hash``, compared in constant time (a missing user is
    compared against a dummy hash, so it costs the same)."""
    given = secret_hash(secret or "")
    expected = stored_hash if stored_hash is not None else _DUMMY_HASH
    return hmac.compare_digest(given, expected) and stored_hash is not None
