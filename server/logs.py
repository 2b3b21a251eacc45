"""One logging configuration for Relance and uvicorn (its access log included): text lines, or one
JSON object a line (`RELANCE_LOG_FORMAT=json`) for platforms that read structured logs."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that write a line for every statement even while the server is idle: their debug
# lines are not Relance's (RELANCE_LOG_LEVEL=debug is for the engine's own).
QUIET = {"aiosqlite": "WARNING", "tortoise": "INFO", "asyncio": "WARNING", "hpack": "INFO", "httpcore": "INFO"}
ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")  # uvicorn.access's arguments


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time (UTC, ISO 8601), level, logger, message; uvicorn's access
    lines also as fields; an exception's traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            entry.update(zip(ACCESS_FIELDS, record.args))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str = "info", output: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the root logger and uvicorn's, also given to uvicorn as
    its `log_config` (so its access and error lines come out the same way)."""
    formatter: dict[str, Any] = {"()": f"{__name__}.JsonFormatter"} if output == "json" else {"format": TEXT}
    through_root = {"handlers": [], "propagate": True}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"relance": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "relance",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {"uvicorn": through_root, "uvicorn.error": through_root, "uvicorn.access": through_root,
                    **{name: {"level": quiet} for name, quiet in QUIET.items()}},
    }
