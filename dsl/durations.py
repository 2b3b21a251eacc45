"""Durations as rules write them (`24h`, `3d`, `1d12h`) and what to suggest when one is wrong."""
from __future__ import annotations

import difflib
import re
from datetime import timedelta

_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
MAX_DAYS = 3660  # ten years: beyond that a wait is a mistake, and dates overflow
MAX_SECONDS = MAX_DAYS * 86400
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?[wdhms])+$")
# Words people type for a unit, in English and French, and the letter they mean.
_UNIT_WORDS = {
    "w": ("w", "week", "weeks", "wk", "semaine", "semaines", "sem"),
    "d": ("d", "day", "days", "j", "jour", "jours", "dayz"),
    "h": ("h", "hour", "hours", "hr", "hrs", "heure", "heures"),
    "m": ("m", "min", "mins", "minute", "minutes", "mn"),
    "s": ("s", "sec", "secs", "second", "seconds", "seconde", "secondes"),
}


def parse_duration(text: str) -> timedelta:
    """`"1d12h"` → 36 hours. Raises ValueError for anything else."""
    compact = text.strip()
    if not _DURATION.match(compact):
        raise ValueError(f"bad duration '{text}'")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(compact))
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration '{text}' is longer than {MAX_DAYS}d")
    return timedelta(seconds=seconds)


def suggest_duration(text: str) -> str | None:
    """The compact form a user probably meant: `"3 dayz"` → `"3d"`, `"2 heures"` → `"2h"`."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-zéè]+)\s*$", text)
    if not match:
        return None
    number, word = match.group(1), match.group(2).lower()
    words = {w: unit for unit, ws in _UNIT_WORDS.items() for w in ws}
    close = difflib.get_close_matches(word, list(words), n=1, cutoff=0.5)
    return f"{number}{words[close[0]]}" if close else None


def format_duration(delta: timedelta) -> str:
    """The shortest compact form: 36 hours → `1d12h`."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        if unit == "w" and seconds % size:
            continue
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
