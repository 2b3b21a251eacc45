"""Settings: flags, then the environment, then the config file, then the defaults; a bad value named with its source."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from relance.server.settings import Settings, SettingsError, load_settings


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "relance.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, environ={"RELANCE_CONFIG": str(tmp_path / "none.toml")})
    assert settings == Settings()
    assert (settings.port, settings.workers, settings.inbox_limit, settings.rules) == (8000, 1, 100_000,
                                                                                      ("rules.example.yaml",))


def test_flags_win_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    path = config(tmp_path, '[relance]\nport = 7000\nhost = "0.0.0.0"\nworkers = 3\ninbox_limit = 50\n')
    environ = {"RELANCE_PORT": "7100", "RELANCE_WORKERS": "2", "DATABASE_URL": "postgres://u:pw@db/x"}
    settings = load_settings({"port": 7200, "host": None, "rules": ()}, environ=environ, config_file=path)
    assert (settings.port, settings.workers, settings.host, settings.inbox_limit) == (7200, 2, "0.0.0.0", 50)
    assert settings.database_url == "postgres://u:pw@db/x" and settings.masked()["database_url"] == "postgres://u:***@db/x"
    assert settings.rules == ("rules.example.yaml",)


def test_the_file_may_hold_its_settings_without_a_section_and_is_found_by_relance_config(tmp_path: Path) -> None:
    path = config(tmp_path, 'rules = ["a.yaml", "b.yaml"]\nlog_format = "JSON"\nresend_after = 0\n')
    settings = load_settings({}, environ={"RELANCE_CONFIG": path})
    assert (settings.rules, settings.log_format, settings.resend_after) == (("a.yaml", "b.yaml"), "json", 0)


def test_the_environment_names_each_setting() -> None:
    environ = {"RELANCE_RULES": os.pathsep.join(["a.yaml", "", "b"]), "REDIS_URL": "redis://r:6379/1",
               "RELANCE_INBOX_LIMIT": "12", "RELANCE_SECRET": "s", "RELANCE_METRICS_TOKEN": "t",
               "RELANCE_PUBLIC_URL": "", "RELANCE_LOG_LEVEL": "debug", "RELANCE_RESEND_AFTER": "60",
               "RELANCE_CONFIG": "/nonexistent/relance.toml"}
    settings = load_settings({}, environ=environ)
    assert settings.rules == ("a.yaml", "b") and settings.redis_url == "redis://r:6379/1"
    assert (settings.inbox_limit, settings.public_url, settings.log_level, settings.resend_after) == (12, None, "debug", 60)
    assert (settings.masked()["secret"], settings.masked()["metrics_token"]) == ("***", "***")
    assert settings.base_url() == "http://127.0.0.1:8000"


@pytest.mark.parametrize("flags, environ, file, message", [
    ({}, {"RELANCE_PORT": "eighty"}, "", "RELANCE_PORT: 'eighty' is not a valid port"),
    ({"workers": 0}, {}, "", "--workers: '0' is not a valid workers"),
    ({}, {"RELANCE_INBOX_LIMIT": "0"}, "", "RELANCE_INBOX_LIMIT: '0' is not a valid inbox_limit"),
    ({}, {"RELANCE_LOG_FORMAT": "xml"}, "", "RELANCE_LOG_FORMAT: 'xml' is not a valid log_format"),
    ({}, {}, "port = -1\n", "{path}: '-1' is not a valid port"),
    ({}, {}, "[relance]\nprot = 1\n", "{path}: unknown setting 'prot'; settings are: rules, host, port, workers"),
    ({}, {}, "port = \n", "{path}: "),
])
def test_a_bad_value_is_named_with_where_it_came_from(tmp_path: Path, flags, environ, file, message) -> None:
    path = config(tmp_path, file)
    with pytest.raises(SettingsError) as caught:
        load_settings(flags, environ=environ, config_file=path)
    assert str(caught.value).startswith(message.format(path=path)), str(caught.value)


def test_a_config_file_named_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such config file"):
        load_settings({}, environ={}, config_file=str(tmp_path / "missing.toml"))
