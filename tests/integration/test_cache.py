"""The settings' Redis cache backend (studentperf/cache.py) against a real redis-server: what the rate limits
and the loader use works through the one kept client, on one connection."""
import pytest
from django.core.cache import caches

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(redis_server, settings):
    redis_server.flush()
    settings.CACHES = {"default": {"BACKEND": "studentperf.cache.RedisCache", "LOCATION": redis_server.url,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    cache = caches["default"]
    yield cache
    cache.close()


def test_the_operations_work_through_one_client_and_one_connection(redis_cache):
    client = redis_cache._cache.get_client()

    redis_cache.set("history", [1.5, 2.5], 60)
    assert redis_cache.get("history") == [1.5, 2.5]
    assert redis_cache.add("history", "other", 60) is False and redis_cache.add("fresh", 1, 60) is True
    assert redis_cache.incr("fresh") == 2
    redis_cache.set_many({"a": 1, "b": "two"}, 60)
    assert redis_cache.get_many(["a", "b", "missing"]) == {"a": 1, "b": "two"}
    redis_cache.delete_many(["a", "b"])
    assert redis_cache.get("a") is None and redis_cache.touch("fresh", 5) is True

    assert redis_cache._cache.get_client(write=True) is client
    # Sequential calls borrow and return the same connection: the pool never needed a second one.
    assert len(client.connection_pool._available_connections) + len(client.connection_pool._in_use_connections) == 1
