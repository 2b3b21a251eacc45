"""Server settings: flags, then environment, then a config file, then defaults — printed with secrets masked."""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from relance.dsl.errors import RelanceError

ENVIRONMENT = {  # setting -> environment variable
    "rules": "RELANCE_RULES", "host": "RELANCE_HOST", "port": "RELANCE_PORT", "workers": "RELANCE_WORKERS",
    "database_url": "DATABASE_URL", "redis_url": "REDIS_URL", "public_url": "RELANCE_PUBLIC_URL",
    "log_level": "RELANCE_LOG_LEVEL", "secret": "RELANCE_SECRET", "resend_after": "RELANCE_RESEND_AFTER",
    "metrics_token": "RELANCE_METRICS_TOKEN", "log_format": "RELANCE_LOG_FORMAT",
    "inbox_limit": "RELANCE_INBOX_LIMIT",
}
CONFIG_FILE = "relance.toml"


class SettingsError(RelanceError):
    """A setting that cannot be used, named with where it came from."""


@dataclass(frozen=True, slots=True)
class Settings:
    rules: tuple[str, ...] = ("rules.example.yaml",)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    database_url: str = "sqlite://relance.sqlite3"
    redis_url: str | None = None
    public_url: str | None = None  # the base of links in messages (unsubscribe, tracking)
    log_level: str = "info"
    log_format: str = "text"  # or json: one JSON object a line, uvicorn's access lines included
    secret: str | None = None  # signs those links; one is made and kept in the database when not given
    resend_after: int = 300  # seconds after which a message claimed by a process that is gone is sent again
    metrics_token: str | None = None  # when set, /metrics and the details of /readyz need it as a bearer token
    inbox_limit: int = 100_000  # events waiting to be processed, per workspace, past which intake answers 429

    def masked(self) -> dict[str, Any]:
        """Every setting, passwords in URLs and the secret replaced by ***."""
        shown = {}
        for f in fields(self):
            value = getattr(self, f.name)
            shown[f.name] = re.sub(r"(//[^:/@]+:)[^@]+@", r"\1***@", value) if isinstance(value, str) else value
        for secret in ("secret", "metrics_token"):
            if getattr(self, secret):
                shown[secret] = "***"
        return shown

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


def _coerce(name: str, value: Any, source: str) -> Any:
    try:
        if name in ("port", "workers", "resend_after", "inbox_limit"):
            number = int(value)
            if number < (0 if name in ("port", "resend_after") else 1):
                raise ValueError
            return number
        if name == "log_format":
            if str(value).lower() not in ("text", "json"):
                raise ValueError
            return str(value).lower()
        if name == "rules":
            items = value if isinstance(value, (list, tuple)) else str(value).split(os.pathsep)
            return tuple(str(v) for v in items if str(v))
        return None if value in ("", None) else str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: '{value}' is not a valid {name}") from None


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str] = os.environ,
                  config_file: str | None = None) -> Settings:
    """Settings from `flags` (None = not given), else the environment, else the config file."""
    values: dict[str, Any] = {}
    path = Path(config_file or environ.get("RELANCE_CONFIG") or CONFIG_FILE)
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"{path}: {error}") from None
        section = data.get("relance", data)
        for key, value in section.items():
            if key not in ENVIRONMENT:
                raise SettingsError(f"{path}: unknown setting '{key}'; settings are: {', '.join(ENVIRONMENT)}")
            values[key] = _coerce(key, value, str(path))
    elif config_file:
        raise SettingsError(f"{config_file}: no such config file")
    for key, variable in ENVIRONMENT.items():
        if variable in environ:
            values[key] = _coerce(key, environ[variable], variable)
    for key, value in flags.items():
        if value not in (None, ()):
            values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    return replace(Settings(), **values)
