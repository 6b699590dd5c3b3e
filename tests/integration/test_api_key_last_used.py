"""An API key's "last used" time on a real redis-server shared by many web processes: of 32 processes recording
the same key in the same minute, exactly one writes (the cache's atomic add() is the gate)."""
from __future__ import annotations

import threading

import pytest
from django.core.cache import caches
from django.utils import timezone

from predictions.access import api_keys
from predictions.models import ApiKey
from tests.integration.test_rate_limits import CONNECTIONS, WINDOW_START, at_once


class WindowsPerThread(dict):
    """The minutes each process remembers, one memory per thread: every thread plays a separate web process."""

    _local = threading.local()

    def _own(self) -> dict:
        if not hasattr(self._local, "windows"):
            self._local.windows = {}
        return self._local.windows

    def get(self, key, default=None):
        return self._own().get(key, default)

    def __setitem__(self, key, value) -> None:
        self._own()[key] = value


@pytest.fixture
def shared_cache(redis_server, settings, monkeypatch):
    if not redis_server.ping():  # a test stopped it
        redis_server.start()
    redis_server.flush()
    settings.CACHES = {"default": {"BACKEND": "studentperf.cache.RedisCache", "LOCATION": redis_server.url,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    monkeypatch.setattr(api_keys, "cache", caches["default"])
    monkeypatch.setattr(api_keys, "_recorded_windows", WindowsPerThread())
    monkeypatch.setattr(api_keys, "clock", lambda: WINDOW_START + 30)
    yield
    caches["default"].close()
    redis_server.flush()


@pytest.mark.django_db(transaction=True)
def test_32_processes_recording_a_key_in_the_same_minute_write_it_once(shared_cache, make_api_key, monkeypatch):
    api_key, _ = make_api_key()
    used_at = timezone.now()

    wrote = at_once(CONNECTIONS, lambda: api_keys.api_key_use_record(prefix=api_key.prefix, used_at=used_at))

    assert sorted(wrote) == [False] * (CONNECTIONS - 1) + [True]
    assert ApiKey.objects.get(pk=api_key.pk).last_used == used_at

    monkeypatch.setattr(api_keys, "clock", lambda: WINDOW_START + 60)  # the next minute: one of them writes again
    wrote = at_once(CONNECTIONS, lambda: api_keys.api_key_use_record(prefix=api_key.prefix, used_at=used_at))
    assert wrote.count(True) == 1
