"""API keys: random, shown once, kept as a SHA-256 digest and their first characters (to name them)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

PREFIX = "rk_"
SHOWN = 11  # characters kept as the key's name in `relance keys list`: rk_ and 8 of its 43 random ones
TOUCH_EVERY = timedelta(minutes=1)  # how often a key's last use is written
RECHECK_EVERY = timedelta(seconds=1)  # how long a server takes a key's workspace as read: a revocation's delay


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 is enough to keep them unusable if read."""
    return hashlib.sha256(key.encode()).hexdigest()


def prefix(key: str) -> str:
    return key[:SHOWN]
