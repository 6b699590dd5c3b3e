"""Behind the TLS proxy: forwarded headers believed only from the proxy, probes whatever the Host header, HTTPS
redirects and links, and a login lockout keyed on the client's forwarded address (studentperf/proxy.py)."""
from __future__ import annotations

import pytest
from django.test import RequestFactory

from studentperf.proxy import address_trusted, client_address
from tests.conftest import PASSWORD
from tests.studentperf.test_login import LOGIN, fail_logins, log_in, logged_in

PROXY = "10.0.0.2"  # the proxy as the web process sees it
CLIENT = "198.51.100.20"


@pytest.fixture
def behind_proxy(settings):
    """Production's redirect to HTTPS, with one trusted proxy at PROXY."""
    settings.FORWARDED_ALLOW_IPS = [PROXY]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    return settings


def forwarded(address: str = CLIENT, proto: str = "https") -> dict:
    """A request as the proxy passes it on: the client's Host header, and the forwarding headers it adds."""
    return {
        "REMOTE_ADDR": PROXY, "HTTP_HOST": "testserver",
        "HTTP_X_FORWARDED_FOR": address, "HTTP_X_FORWARDED_PROTO": proto,
    }


# --- which addresses are trusted, and the client's address ---


@pytest.mark.parametrize("address, allowed, trusted", [
    ("127.0.0.1", ["127.0.0.1", "::1"], True),
    ("10.88.0.7", ["10.88.0.0/16"], True),
    ("10.89.0.7", ["10.88.0.0/16"], False),
    ("::1", ["127.0.0.1", "::1"], True),
    ("203.0.113.9", ["*"], True),
    ("", ["127.0.0.1"], False),
    ("not-an-address", ["127.0.0.1"], False),
])
def test_an_address_is_trusted_only_when_it_is_in_the_allowed_list(address, allowed, trusted):
    assert address_trusted(address, allowed=allowed) is trusted


@pytest.mark.parametrize("meta, allowed, expected", [
    # From the proxy: the address it added (the last); what the client wrote before it is not believed.
    ({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"6.6.6.6, {CLIENT}"}, [PROXY], CLIENT),
    # Two trusted proxies in a row: the first address neither of them is.
    ({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"6.6.6.6, {CLIENT}, 10.0.0.3"}, ["10.0.0.0/24"], CLIENT),
    # `*`: only the entry the immediate proxy added.
    ({"REMOTE_ADDR": "10.88.0.5", "HTTP_X_FORWARDED_FOR": f"6.6.6.6, {CLIENT}"}, ["*"], CLIENT),
    # Straight to the web process: the connection's address, whatever the header claims.
    ({"REMOTE_ADDR": CLIENT, "HTTP_X_FORWARDED_FOR": "6.6.6.6"}, [PROXY], CLIENT),
    # From the proxy without the header.
    ({"REMOTE_ADDR": PROXY}, [PROXY], PROXY),
])
def test_the_client_address_is_the_one_the_trusted_proxy_saw(settings, meta, allowed, expected):
    settings.FORWARDED_ALLOW_IPS = allowed
    request = RequestFactory().get("/", **meta)

    assert client_address(request) == expected


# --- probes ---


@pytest.mark.parametrize("host", ["10.1.2.3", "10.1.2.3:8000", "[fd00::5]:8000", "anything.internal"])
def test_the_probes_answer_whatever_the_host_header(client, host):
    response = client.get("/health/live", HTTP_HOST=host)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_answers_an_ip_host_too(client):
    response = client.get("/health/ready", HTTP_HOST="10.1.2.3")

    assert response.status_code == 503  # no model yet: the readiness answer itself, not a 400 about the host
    assert response.json()["error"] == "unavailable"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/v1/models", "/health/live/", "/metrics"])
def test_every_other_path_still_refuses_an_unknown_host(client, path):
    assert client.get(path, HTTP_HOST="10.1.2.3").status_code == 400


def test_a_probe_is_not_redirected_to_https(client, behind_proxy):
    """Orchestrators probe the process itself over plain HTTP."""
    assert client.get("/health/live", HTTP_HOST="10.1.2.3").status_code == 200


def test_probes_are_logged_and_counted_under_their_route(client):
    from studentperf.metrics.registry import REGISTRY

    def count():
        return REGISTRY.get_sample_value(
            "studentperf_http_requests_total", {"endpoint": "health/live", "method": "GET", "status": "200"}
        ) or 0

    before = count()
    client.get("/health/live", HTTP_HOST="10.1.2.3")

    assert count() == before + 1


# --- HTTPS behind the proxy ---


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(client, behind_proxy):
    response = client.get("/accounts/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="http")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


@pytest.mark.django_db
def test_https_from_the_proxy_is_served_with_hsts(client, behind_proxy):
    response = client.get("/accounts/login/", **forwarded())

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.django_db
def test_a_client_cannot_claim_https_without_the_proxy(client, behind_proxy):
    response = client.get("/accounts/login/", REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 301  # the header was dropped: plain HTTP, redirected


@pytest.mark.django_db
def test_api_links_are_https_behind_the_proxy(behind_proxy, api_client, user, record):
    from predictions.models import Student

    for number in (1, 2):
        Student.objects.create(external_id=f"s-{number}", teacher=user, **record)
    client = api_client("read")

    response = client.get("/api/v1/students?page_size=1", **forwarded())

    assert response.status_code == 200
    assert response.json()["next"].startswith("https://testserver/api/v1/students?")


# --- the login lockout behind the proxy ---


def test_one_attacker_behind_the_proxy_does_not_lock_out_a_teacher_elsewhere(client, user, behind_proxy):
    statuses = [
        client.post(LOGIN, {"username": "teacher", "password": "wrong"}, **forwarded("203.0.113.66")).status_code
        for _ in range(behind_proxy.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429

    response = client.post(LOGIN, {"username": "teacher", "password": PASSWORD, "next": "/"}, **forwarded(CLIENT))

    assert response.status_code == 302 and logged_in(client)


def test_the_attacker_stays_locked_out_whatever_address_it_claims(client, user, behind_proxy):
    attacker = "203.0.113.66"
    for _ in range(behind_proxy.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "teacher", "password": "wrong"}, **forwarded(attacker))

    # A forged address written before the proxy's own entry changes nothing.
    meta = forwarded(f"192.0.2.1, {attacker}")
    response = client.post(LOGIN, {"username": "teacher", "password": PASSWORD}, **meta)

    assert response.status_code == 429 and not logged_in(client)


def test_a_client_reaching_the_web_process_directly_cannot_choose_its_address(client, user, settings):
    settings.FORWARDED_ALLOW_IPS = [PROXY]
    fail_logins(client, LOGIN, "teacher", settings.AXES_FAILURE_LIMIT)  # from 127.0.0.1, the test client

    response = client.post(LOGIN, {"username": "teacher", "password": PASSWORD}, HTTP_X_FORWARDED_FOR=CLIENT)

    assert response.status_code == 429 and not logged_in(client)
    assert log_in(client, LOGIN, "teacher", PASSWORD).status_code == 429


def test_the_access_line_names_the_client_not_the_proxy(client, behind_proxy, caplog):
    with caplog.at_level("INFO", logger="studentperf.access"):
        client.get("/health/live", **forwarded())

    assert [record.client for record in caplog.records if record.name == "studentperf.access"] == [CLIENT]
