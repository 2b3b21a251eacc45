"""Reading dates written in profiles and events: datetimes, dates or ISO 8601 strings."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any


def as_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime from a datetime, a date or an ISO 8601 string; None otherwise.

    A time without a zone is taken as UTC.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
