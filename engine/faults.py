"""Transient errors — the database or Redis away for a moment — told apart from errors of a rule.

A transient error is retried (the step rolls back, the run stays due, the loop backs
off); only an error of the rule itself (a bad value, a plugin's bug) fails a run. The
error is recognised wherever a driver or the ORM wrapped it: its whole chain of causes
is looked at.
"""
from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator

import redis.exceptions

# PostgreSQL SQLSTATEs worth another try: the same statement may well pass in a moment.
TRANSIENT_SQLSTATES = frozenset({
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "57014",  # query_canceled (statement_timeout)
    "57P01",  # admin_shutdown: the server is stopping (a restart, an upgrade)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: the database system is starting up
    "53300",  # too_many_connections
    "53400",  # configuration_limit_exceeded
})
TRANSIENT_SQLSTATE_CLASSES = ("08",)  # connection exceptions
NETWORK_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
                            errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN})
CLOSED_CONNECTION = ("connection is closed", "connection was closed", "connection has been released")


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it was raised from or while handling, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(error: BaseException) -> bool:
    """True when `error` (or one of its causes) says a server was unreachable or busy for a while."""
    return any(_transient_itself(e) for e in causes(error))


def _transient_itself(error: BaseException) -> bool:
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):  # refused, reset, broken, unresolved
        return True
    if isinstance(error, OSError) and (error.errno in NETWORK_ERRNOS or "connect call failed" in str(error).lower()):
        return True  # asyncio's "Multiple exceptions: … Connect call failed" carries no errno
    if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True  # Redis away, or loading its data at start (BusyLoadingError is a ConnectionError)
    code = getattr(error, "sqlstate", None)  # asyncpg and psycopg both name it so
    if isinstance(code, str) and (code in TRANSIENT_SQLSTATES or code.startswith(TRANSIENT_SQLSTATE_CLASSES)):
        return True
    text = str(error).lower()
    if isinstance(error, sqlite3.OperationalError):
        return "database is locked" in text or "database is busy" in text
    return type(error).__name__ == "InterfaceError" and any(phrase in text for phrase in CLOSED_CONNECTION)
