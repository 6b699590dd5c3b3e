"""Issue 18, attack 2: a flood of wrong or missing credentials from one address.

Before: 6,536 requests with a wrong key in 5 s, all 401, never 429, each a database lookup, counted nowhere.
Now each 401 is charged to the client's address and counted by reason in /metrics; an address over
API_THROTTLE_ANON is refused (429, `Retry-After`) before any credential is looked up, until its window ends.
"""
from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from studentperf import ratelimit
from studentperf.api.exceptions import CredentialsRejected, credentials_reason
from tests.studentperf.test_api_errors import ECHO, error_of
from tests.studentperf.test_deploy_files import alert_rules, promtool, rules_test  # noqa: F401  (promtool: a fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.studentperf.api_urls")]
BUDGET = 5
UNKNOWN_KEY = "Api-Key abcdefgh." + "x" * 32  # well-formed: only a database lookup can tell it is unknown
WINDOW_START = 1_800_000_000.0  # a multiple of 60: a minute's window starts here


def budget(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "600/min", "user": "300/min", "anon": rate},
    }


@pytest.fixture(autouse=True)
def small_budget(settings):
    budget(settings, f"{BUDGET}/min")


@pytest.fixture
def now(monkeypatch):
    """The clock the windows are cut from, 30 s into a minute; `now.move(seconds)` moves it."""
    class Clock:
        value = WINDOW_START + 30

        def move(self, seconds: float) -> None:
            self.value += seconds

    clock = Clock()
    monkeypatch.setattr(ratelimit, "clock", lambda: clock.value)
    return clock


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("studentperf_auth_failures_total", {"reason": reason})


def client_from(address: str, authorization: str | None = UNKNOWN_KEY) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


def test_a_flood_of_wrong_keys_gets_429_with_retry_after_and_no_sql_once_over_the_budget(
    now, django_assert_num_queries
):
    attacker = client_from("198.51.100.7")
    for _ in range(BUDGET):
        with django_assert_num_queries(1):  # the key's lookup
            error_of(attacker.get(ECHO), 401, "unauthenticated")

    for _ in range(100):
        with django_assert_num_queries(0):
            response = attacker.get(ECHO)
        body = error_of(response, 429, "throttled")
    assert response["Retry-After"] == "30"  # the end of the minute's window
    assert body["message"].startswith("Too many API requests without valid credentials came from this address.")


def test_missing_credentials_are_counted_too(now):
    anonymous = client_from("198.51.100.8", authorization=None)

    assert [anonymous.get(ECHO).status_code for _ in range(BUDGET + 1)] == [401] * BUDGET + [429]


def test_a_flooded_address_is_refused_wholesale_and_others_are_not(now, api_client):
    valid = api_client()
    valid.defaults["REMOTE_ADDR"] = "198.51.100.9"
    for _ in range(BUDGET):
        client_from("198.51.100.9").get(ECHO)

    # Refused before authentication: telling a valid key apart would take the lookup the budget saves.
    error_of(valid.get(ECHO), 429, "throttled")
    valid.defaults["REMOTE_ADDR"] = "198.51.100.10"
    assert valid.get(ECHO).status_code == 200
    assert client_from("198.51.100.10").get(ECHO).status_code == 401


def test_valid_requests_spend_nothing_of_the_budget(now, api_client):
    client = api_client()

    assert [client.get(ECHO).status_code for _ in range(3 * BUDGET)] == [200] * (3 * BUDGET)


def test_the_budget_starts_again_with_the_next_window(now):
    attacker = client_from("198.51.100.11")
    for _ in range(BUDGET):
        attacker.get(ECHO)
    assert attacker.get(ECHO).status_code == 429

    now.move(29.5)
    assert attacker.get(ECHO)["Retry-After"] == "1"
    now.move(1)
    assert attacker.get(ECHO).status_code == 401


def test_the_address_is_the_one_the_trusted_proxy_forwards(now, settings):
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.2"]

    def via_proxy(address: str) -> APIClient:
        client = client_from("10.0.0.2")
        client.defaults["HTTP_X_FORWARDED_FOR"] = address
        return client

    for _ in range(BUDGET):
        via_proxy("203.0.113.5").get(ECHO)
    assert via_proxy("203.0.113.5").get(ECHO).status_code == 429
    assert via_proxy("203.0.113.6").get(ECHO).status_code == 401  # another client behind the same proxy

    # A client that talks to the application directly cannot move its failures to a forged address.
    forger = client_from("198.51.100.12")
    for index in range(BUDGET):
        forger.defaults["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{100 + index}"
        forger.get(ECHO)
    assert forger.get(ECHO).status_code == 429


def test_each_refusal_is_counted_in_metrics_by_reason(now, make_api_key, settings):
    budget(settings, "100/min")
    _, expired_key = make_api_key(expiry_date=timezone.now() - datetime.timedelta(days=1))
    sent = {
        "missing": None,
        "wrong_scheme": "Basic dXNlcjpwYXNz",
        "malformed": "Api-Key not-a-key",
        "unknown": UNKNOWN_KEY,
        "expired": f"Api-Key {expired_key}",
    }
    before = {reason: failures(reason) for reason in [*sent, "throttled"]}

    for reason, authorization in sent.items():
        error_of(client_from("198.51.100.13", authorization).get(ECHO), 401, "unauthenticated")
    budget(settings, f"{len(sent)}/min")
    error_of(client_from("198.51.100.13").get(ECHO), 429, "throttled")

    assert {reason: failures(reason) - count for reason, count in before.items()} == dict.fromkeys(
        [*sent, "throttled"], 1.0
    )


def test_every_reason_is_exported_before_its_first_failure():
    assert all(failures(reason) is not None for reason in ("missing", "unknown", "invalid", "throttled"))


def test_an_authentication_failure_is_labelled_by_its_class():
    assert credentials_reason(CredentialsRejected("No.", reason="expired")) == "expired"
    assert credentials_reason(AuthenticationFailed("No.")) == "invalid"
    assert credentials_reason(ValueError("not about credentials")) is None
    with pytest.raises(ValueError, match="reason must be one of"):
        CredentialsRejected("No.", reason="made-up")


def test_a_credential_flood_raises_the_alert_rule(promtool, tmp_path):
    """promtool runs deploy/prometheus/alerts.yml: 5 refusals a second for 10 minutes alert; 1 a second does not."""
    [rule] = [rule for rule in alert_rules() if rule["alert"] == "StudentperfCredentialFlood"]
    assert "studentperf_auth_failures_total" in rule["expr"]

    def failing(reason: str, per_minute: int) -> dict:
        labels = f'job="studentperf",instance="web1",reason="{reason}"'
        return {"series": f"studentperf_auth_failures_total{{{labels}}}", "values": f"0+{per_minute}x60"}

    description = rule["annotations"]["description"]
    rules_test(promtool, tmp_path, [
        {
            "input_series": [failing("unknown", 60), failing("throttled", 240)],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "StudentperfCredentialFlood", "exp_alerts": []},  # pending: for 5m
                {"eval_time": "15m", "alertname": "StudentperfCredentialFlood", "exp_alerts": [{
                    "exp_labels": {"severity": "warning"},
                    "exp_annotations": {
                        "summary": "API requests without valid credentials: 5 per second", "description": description,
                    },
                }]},
            ],
        },
        {
            "input_series": [failing("expired", 60)],  # one system retrying with an expired key every second
            "alert_rule_test": [{"eval_time": "15m", "alertname": "StudentperfCredentialFlood", "exp_alerts": []}],
        },
    ])

