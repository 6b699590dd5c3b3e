"""Issue 18, attack 3: concurrent requests against a rate limit.

Before: DRF's throttle read a key's list of recent hits, appended one and wrote it back, so concurrent requests
overwrote each other's hits (600/min let 862 through in 20 s under 32 connections). Now each hit is one atomic
increment (studentperf/ratelimit.py): on a real redis-server shared by every process, and in the per-process
fallback used without Redis.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connections
from rest_framework.test import APIClient

from studentperf import ratelimit
from tests.studentperf.test_api_errors import ECHO

CONNECTIONS = 32
LIMIT = 10
WINDOW_START = 1_800_000_000.0  # a multiple of 60: the minute's window starts here


@pytest.fixture(params=["redis", "per-process"])
def counters(request, settings, monkeypatch):
    """The rate-limit counts on a real redis-server, or in this process's memory (the database cache is
    configured, as without REDIS_URL); the clock mid-window, so that no run straddles two windows."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        if not server.ping():  # a test stopped it
            server.start()
        server.flush()
        settings.CACHES = {"default": {"BACKEND": "studentperf.cache.RedisCache", "LOCATION": server.url,
                                       "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    else:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                                       "LOCATION": "no_such_table"}}  # never read: counting costs no SQL
    monkeypatch.setattr(ratelimit, "_local_counts", LocMemCache("test-rate-limits", {}))
    monkeypatch.setattr(ratelimit, "_shared_cache_down_until", 0.0)
    monkeypatch.setattr(ratelimit, "clock", lambda: WINDOW_START + 30)
    yield request.param
    if request.param == "redis":
        caches["default"].close()
        server.flush()


def at_once(calls: int, call) -> list:
    """`call()` from CONNECTIONS threads released together by a barrier."""
    barrier = threading.Barrier(CONNECTIONS)

    def run(_):
        barrier.wait()
        try:
            return call()
        finally:
            connections.close_all()  # each thread's own database connection

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        return list(pool.map(run, range(calls)))


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.studentperf.api_urls")
def test_32_concurrent_requests_against_a_10_per_minute_key_let_through_at_most_10(counters, settings, make_api_key):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": f"{LIMIT}/min"}}
    _, key = make_api_key()

    def request() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client.get(ECHO).status_code

    statuses = at_once(CONNECTIONS, request)

    assert sorted(statuses) == [200] * LIMIT + [429] * (CONNECTIONS - LIMIT)


def test_concurrent_hits_each_get_their_own_count(counters):
    rate = ratelimit.Rate(limit=LIMIT, seconds=60)

    counts = at_once(CONNECTIONS * 4, lambda: ratelimit.rate_hit("test:key", rate=rate).count)

    assert sorted(counts) == list(range(1, CONNECTIONS * 4 + 1))
    assert ratelimit.rate_read("test:key", rate=rate).count == CONNECTIONS * 4


def test_a_count_expires_with_its_window(counters, monkeypatch):
    rate = ratelimit.Rate(limit=LIMIT, seconds=60)
    for _ in range(3):
        window = ratelimit.rate_hit("test:window", rate=rate)
    assert (window.count, window.seconds_left) == (3, 30)

    monkeypatch.setattr(ratelimit, "clock", lambda: WINDOW_START + 60)
    assert ratelimit.rate_read("test:window", rate=rate).count == 0
    assert ratelimit.rate_hit("test:window", rate=rate) == ratelimit.Window(count=1, seconds_left=60)
    if counters == "redis":  # the past window's key is gone from Redis by itself, a second after it could end
        client = caches["default"]._cache.get_client()
        assert 0 < client.ttl(caches["default"].make_and_validate_key(f"ratelimit:test:window:60:{30_000_000}")) <= 61


@pytest.mark.django_db
@pytest.mark.urls("tests.studentperf.api_urls")
def test_a_flood_of_wrong_keys_is_refused_without_sql_once_over_the_address_budget(
    counters, settings, django_assert_num_queries
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": f"{LIMIT}/min"}}
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    client.credentials(HTTP_AUTHORIZATION="Api-Key abcdefgh." + "x" * 32)

    assert [client.get(ECHO).status_code for _ in range(LIMIT)] == [401] * LIMIT
    with django_assert_num_queries(0):
        statuses = [client.get(ECHO) for _ in range(20)]
    assert {response.status_code for response in statuses} == {429}
    assert {response["Retry-After"] for response in statuses} == {"30"}
