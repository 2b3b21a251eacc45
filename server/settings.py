"""Server settings: flags, then environment, then a config file, then defaults — printed with secrets masked."""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource,
                               SettingsConfigDict, TomlConfigSettingsSource)

from relance.dsl.errors import RelanceError

CONFIG_FILE = "relance.toml"
SECTION = "relance"  # the table of relance.toml that holds the settings; without it, the whole file


class SettingsError(RelanceError):
    """A setting that cannot be used, named with where it came from."""


class Settings(BaseSettings):
    """Every setting of a server process. `Settings(...)` takes only what it is given;
    `load_settings` adds the environment (RELANCE_*, DATABASE_URL, REDIS_URL) and the file."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="RELANCE_", coerce_numbers_to_str=True)

    rules: Annotated[tuple[str, ...], NoDecode] = ("rules.example.yaml",)  # RELANCE_RULES: paths, os.pathsep between
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0)
    workers: int = Field(1, ge=1)
    database_url: str = Field("sqlite://relance.sqlite3", validation_alias=AliasChoices("database_url", "DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=AliasChoices("redis_url", "REDIS_URL"))
    public_url: str | None = None  # the base of links in messages (unsubscribe, tracking)
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line, uvicorn's access lines included
    secret: str | None = None  # signs those links; one is made and kept in the database when not given
    resend_after: int = Field(300, ge=0)  # seconds after which a message claimed by a process that is gone is sent again
    metrics_token: str | None = None  # when set, /metrics and the details of /readyz need it as a bearer token
    inbox_limit: int = Field(100_000, ge=1)  # events waiting to be processed, per workspace, past which intake answers 429

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **others: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the other sources are load_settings', in its order

    @field_validator("rules", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        items = value.split(os.pathsep) if isinstance(value, str) else value
        return tuple(str(v) for v in items if str(v)) if isinstance(items, (list, tuple)) else items

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("redis_url", "public_url", "secret", "metrics_token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    def masked(self) -> dict[str, Any]:
        """Every setting, passwords in URLs and the secret replaced by ***."""
        shown = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            shown[name] = re.sub(r"(//[^:/@]+:)[^@]+@", r"\1***@", value) if isinstance(value, str) else value
        for secret in ("secret", "metrics_token"):
            if getattr(self, secret):
                shown[secret] = "***"
        return shown

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


NAMES = tuple(Settings.model_fields)


def variable(name: str) -> str:
    """The environment variable of a setting."""
    return {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}.get(name, f"RELANCE_{name.upper()}")


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    source = EnvSettingsSource(Settings)
    source.env_vars = {key.lower(): value for key, value in environ.items() if key.isupper()}  # as they are named
    return source()


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = TomlConfigSettingsSource(Settings, toml_file=path)()
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: {error}") from None
    section = data.get(SECTION, data)
    unknown = [key for key in section if key not in NAMES]
    if unknown:
        raise SettingsError(f"{path}: unknown setting '{unknown[0]}'; settings are: {', '.join(NAMES)}")
    return dict(section)


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str] = os.environ,
                  config_file: str | None = None) -> Settings:
    """Settings from `flags` (None = not given), else the environment, else the config file."""
    path = Path(config_file or environ.get("RELANCE_CONFIG") or CONFIG_FILE)
    if config_file and not path.is_file():
        raise SettingsError(f"{config_file}: no such config file")
    layers = [  # (where a value came from, the values), the last one wins
        (lambda name: str(path), _from_file(path) if path.is_file() else {}),
        (variable, _from_environment(environ)),
        (lambda name: f"--{name.replace('_', '-')}", {k: v for k, v in flags.items() if v not in (None, ())}),
    ]
    values = {name: value for _, layer in layers for name, value in layer.items()}
    try:
        return Settings(**values)
    except ValidationError as error:
        name = str(error.errors()[0]["loc"][0])
        source = next(where for where, layer in reversed(layers) if name in layer)
        raise SettingsError(f"{source(name)}: '{values[name]}' is not a valid {name}") from None
