"""API keys: random, shown once, kept as a SHA-256 digest."""
from __future__ import annotations

import hashlib
import secrets

PREFIX = "rk_"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 is enough to keep them unusable if read."""
    return hashlib.sha256(key.encode()).hexdigest()
