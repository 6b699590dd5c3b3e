"""studentperf/env.py: each type has one parsing rule, and a bad value is refused by the variable's name."""
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from studentperf.env import (
    env_bool, env_choice, env_float, env_int, env_list, env_pairs, env_path, env_str, env_time_zone,
)
from tests.studentperf.test_settings import GOOD_KEY, GOOD_SECRET, load_settings

NAME = "STUDENTPERF_TEST_VARIABLE"


@pytest.fixture
def variable(monkeypatch):
    """variable(value) sets NAME for this test; variable(None) leaves it unset."""
    def set_to(value):
        if value is None:
            monkeypatch.delenv(NAME, raising=False)
        else:
            monkeypatch.setenv(NAME, value)

    return set_to


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_or_blank_takes_the_default(variable, value):
    variable(value)

    assert env_str(NAME, "fallback") == "fallback"
    assert env_bool(NAME, True) is True
    assert env_int(NAME, 30, minimum=1) == 30
    assert env_float(NAME, 5, minimum=0) == 5.0 and isinstance(env_float(NAME, 5), float)
    assert env_path(NAME, Path("/srv/models")) == Path("/srv/models")
    assert env_choice(NAME, "stdout", ("stdout", "stderr")) == "stdout"


def test_str_strips_unless_asked_not_to(variable):
    variable("  redis://cache:6379/1 ")

    assert env_str(NAME) == "redis://cache:6379/1"
    assert env_str(NAME, strip=False) == "  redis://cache:6379/1 "


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("TRUE", True), (" Yes ", True), ("on", True),
    ("0", False), ("false", False), ("False", False), ("no", False), ("OFF", False),
])
def test_bool_reads_the_usual_spellings_in_any_case(variable, value, expected):
    variable(value)

    assert env_bool(NAME, not expected) is expected


@pytest.mark.parametrize("value", ["maybe", "ture", "2", "y"])
def test_bool_refuses_anything_else_by_name(variable, value):
    variable(value)

    with pytest.raises(ImproperlyConfigured) as error:
        env_bool(NAME, False)
    assert str(error.value) == f"{NAME} must be a yes/no value: 1/0, true/false, yes/no or on/off (got {value!r})."


@pytest.mark.parametrize("value, expected", [("30", 30), (" 7 ", 7), ("+5", 5), ("1_000", 1000), ("0", 0)])
def test_int_parses_whole_numbers(variable, value, expected):
    variable(value)

    assert env_int(NAME, 99, minimum=0) == expected


@pytest.mark.parametrize("value, kwargs, expected", [
    ("abc", {}, "a whole number (got 'abc')"),
    ("2.5", {}, "a whole number (got '2.5')"),
    ("0", {"minimum": 1}, "a whole number of at least 1 (got '0')"),
    ("70000", {"minimum": 1, "maximum": 65535}, "a whole number from 1 to 65535 (got '70000')"),
    ("11", {"maximum": 10}, "a whole number of at most 10 (got '11')"),
])
def test_int_refuses_what_is_not_a_whole_number_in_range(variable, value, kwargs, expected):
    variable(value)

    with pytest.raises(ImproperlyConfigured) as error:
        env_int(NAME, 1, **kwargs)
    assert str(error.value) == f"{NAME} must be {expected}."


@pytest.mark.parametrize("value, expected", [("0.5", 0.5), ("1", 1.0), ("1e-3", 0.001), (" .25 ", 0.25), ("0", 0.0)])
def test_float_parses_numbers(variable, value, expected):
    variable(value)

    assert env_float(NAME, 0.9, minimum=0, maximum=1) == expected


@pytest.mark.parametrize("value, expected", [
    ("abc", "a number from 0 to 1 (got 'abc')"),
    ("1.5", "a number from 0 to 1 (got '1.5')"),
    ("-0.1", "a number from 0 to 1 (got '-0.1')"),
    ("nan", "a number from 0 to 1 (got 'nan')"),
])
def test_float_refuses_what_is_not_a_number_in_range(variable, value, expected):
    variable(value)

    with pytest.raises(ImproperlyConfigured) as error:
        env_float(NAME, 0.5, minimum=0, maximum=1)
    assert str(error.value) == f"{NAME} must be {expected}."


def test_list_splits_on_commas_and_drops_empty_items(variable):
    variable(" a.example , .b.example,, ")

    assert env_list(NAME, "ignored") == ["a.example", ".b.example"]


def test_list_default_only_when_unset_as_an_empty_value_means_an_empty_list(variable):
    variable(None)
    assert env_list(NAME, "127.0.0.1,::1") == ["127.0.0.1", "::1"]
    assert env_list(NAME) == []

    variable("")
    assert env_list(NAME, "127.0.0.1,::1") == []


def test_path(variable):
    variable(" /srv/models ")

    assert env_path(NAME, Path("/elsewhere")) == Path("/srv/models")


def test_choice_is_case_insensitive_and_names_the_choices(variable):
    variable(" STDERR ")
    assert env_choice(NAME, "stdout", ("stdout", "stderr")) == "stderr"

    variable("syslog")
    with pytest.raises(ImproperlyConfigured) as error:
        env_choice(NAME, "stdout", ("stdout", "stderr"))
    assert str(error.value) == f"{NAME} must be stdout or stderr (got 'syslog')."


@pytest.mark.parametrize("value", ["Europe/Lisbon", " America/Sao_Paulo ", "UTC"])
def test_time_zone_takes_the_names_the_zone_database_knows(variable, value):
    variable(value)
    assert env_time_zone(NAME, "Europe/Lisbon") == value.strip()


@pytest.mark.parametrize("value", ["Europe/Lisbonn", "Lisbon", "../../etc/passwd", "/etc/localtime"])
def test_time_zone_refuses_an_unknown_zone_by_name(variable, value):
    variable(value)
    with pytest.raises(ImproperlyConfigured) as error:
        env_time_zone(NAME, "Europe/Lisbon")
    assert str(error.value) == (
        f'{NAME} must be an IANA time zone name such as "Europe/Lisbon" or "UTC" (got {value!r}).'
    )


def test_pairs_keep_their_order_and_names(variable):
    variable(" mentor: Mentoring by an older student , tutoring:Tutoring,other:Other ")

    assert list(env_pairs(NAME, "a:A").items()) == [
        ("mentor", "Mentoring by an older student"), ("tutoring", "Tutoring"), ("other", "Other"),
    ]


def test_pairs_unset_take_the_default(variable):
    variable(None)

    assert env_pairs(NAME, "tutoring:Tutoring,other:Other") == {"tutoring": "Tutoring", "other": "Other"}


@pytest.mark.parametrize("value", ["tutoring", "tutoring:", ":Tutoring", "a b:Name", "x:One,x:Two", ",,"])
def test_pairs_refuse_a_code_without_a_name_a_bad_or_repeated_code_or_none_at_all(variable, value):
    variable(value)

    with pytest.raises(ImproperlyConfigured) as error:
        env_pairs(NAME, "a:A")

    assert str(error.value).startswith(f"{NAME} must be ")


def test_pairs_refuse_a_code_longer_than_allowed(variable):
    variable("GP:Gabriel Pereira,ESCOLA_SECUNDARIA1:Escola Secundaria")

    with pytest.raises(ImproperlyConfigured) as error:
        env_pairs(NAME, "a:A", max_code_length=16)

    assert "at most 16 characters" in str(error.value)
    assert env_pairs(NAME, "a:A", max_code_length=18)["ESCOLA_SECUNDARIA1"] == "Escola Secundaria"


@pytest.mark.parametrize("name", [
    "DJANGO_SECRET_KEY", "API_THROTTLE_KEY", "EMAIL_HOST_PASSWORD", "METRICS_TOKEN", "SENTRY_DSN", "my_secret_flag",
])
def test_the_value_of_a_secret_never_appears_in_an_error(monkeypatch, name):
    monkeypatch.setenv(name, "hunter2-do-not-print")

    for read in (lambda: env_int(name, 1), lambda: env_float(name, 1.0), lambda: env_bool(name, False),
                 lambda: env_choice(name, "a", ("a", "b"))):
        with pytest.raises(ImproperlyConfigured) as error:
            read()
        assert name in str(error.value) and "(value hidden)" in str(error.value)
        assert "hunter2" not in str(error.value)


# --- the real settings, in a fresh process (tests/studentperf/test_settings.py's load_settings) ---

REQUIRED = {"DJANGO_SECRET_KEY": GOOD_SECRET, "MODEL_ENCRYPTION_KEY": GOOD_KEY}


@pytest.mark.parametrize("env, message", [
    ({"DRIFT_WINDOW_DAYS": "abc"}, "DRIFT_WINDOW_DAYS must be a whole number of at least 1 (got 'abc')."),
    ({"DJANGO_DEBUG": "maybe"},
     "DJANGO_DEBUG must be a yes/no value: 1/0, true/false, yes/no or on/off (got 'maybe')."),
    ({"RISK_HIGH_BELOW": "50%"}, "RISK_HIGH_BELOW must be a number from 0 to 1 (got '50%')."),
    ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT must be a whole number from 1 to 65535 (got 'smtp')."),
    ({"SCHOOLS": "GP:Gabriel Pereira,MS"},
     'SCHOOLS must be comma-separated "code:name" pairs with unique codes (letters, digits, _) '
     "(got 'GP:Gabriel Pereira,MS')."),
    ({"INTERVENTION_KINDS": "tutoring,other"},
     'INTERVENTION_KINDS must be comma-separated "code:name" pairs with unique codes (letters, digits, _) '
     "(got 'tutoring,other')."),
])
def test_the_settings_refuse_a_bad_value_by_the_variable_name(env, message):
    result = load_settings({**REQUIRED, **env})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


def test_the_settings_read_blank_numbers_as_their_defaults():
    """`NAME=` lines in an env file: the default, for variables that used to crash on an empty value too."""
    blank = {name: "" for name in ("DATABASE_CONN_MAX_AGE", "SQLITE_TIMEOUT", "RISK_HIGH_BELOW", "API_MAX_BODY_BYTES")}
    show = ("settings.DATABASES['default']['CONN_MAX_AGE'], settings.RISK_HIGH_BELOW, "
            "settings.DATA_UPLOAD_MAX_MEMORY_SIZE")

    result = load_settings({**REQUIRED, **blank}, show=show)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["60", "0.5", str(5 * 1024 * 1024)]
