"""A plugin's settings in the rules (dsl/settings.py): each problem by key, and defaults filled in."""
from __future__ import annotations

from relance.dsl.settings import Setting, check_settings, with_defaults

SCHEMA = {
    "host": Setting(str, required=True, help="the SMTP server"),
    "port": Setting(int, default=587),
    "ratio": Setting((int, float)),
    "tls": Setting(bool, default=True),
    "mode": Setting(str, choices=("live", "test")),
    "user": Setting(str, requires=("password_env",)),
    "password_env": Setting(str, help="the variable holding the password"),
}


def test_good_settings_have_no_problem() -> None:
    assert check_settings(SCHEMA, {"host": "smtp.test", "port": 25, "ratio": 0.5, "tls": False, "mode": "test",
                                   "user": "u", "password_env": "SMTP_PASSWORD"}) == []


def test_an_unknown_setting_is_named_with_a_suggestion_and_the_known_ones() -> None:
    [(key, message)] = check_settings(SCHEMA, {"host": "h", "prot": 25})
    assert key == "prot"
    assert message == ("unknown setting 'prot' (did you mean 'port'?); this plugin takes: "
                       "host, mode, password_env, port, ratio, tls, user")


def test_a_value_of_the_wrong_type_or_outside_the_choices_is_a_problem() -> None:
    problems = check_settings(SCHEMA, {"host": "h", "port": "25", "ratio": "half", "mode": "prod"})
    assert problems == [
        ("port", "setting 'port' should be a whole number, not '25'"),
        ("ratio", "setting 'ratio' should be a whole number or a number, not 'half'"),
        ("mode", "setting 'mode' should be one of 'live', 'test', not 'prod'"),
    ]


def test_true_is_not_a_whole_number_though_python_says_so() -> None:
    assert check_settings(SCHEMA, {"host": "h", "port": True}) == [
        ("port", "setting 'port' should be a whole number, not True")]
    assert check_settings(SCHEMA, {"host": "h", "tls": 1}) == [("tls", "setting 'tls' should be true or false, not 1")]


def test_a_setting_that_needs_another_says_which_and_why() -> None:
    assert check_settings(SCHEMA, {"host": "h", "user": "u"}) == [
        ("user", "setting 'user' needs 'password_env' beside it (the variable holding the password)")]


def test_a_missing_required_setting_concerns_the_whole_mapping() -> None:
    assert check_settings(SCHEMA, {}) == [(None, "missing setting 'host' (a string: the SMTP server)")]
    assert check_settings({"to": Setting(str, required=True)}, {}) == [(None, "missing setting 'to' (a string)")]


def test_with_defaults_fills_what_is_not_given_and_keeps_what_is() -> None:
    assert with_defaults(SCHEMA, {"host": "h", "port": 25}) == {"host": "h", "port": 25, "tls": True}
