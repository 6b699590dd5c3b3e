"""studentperf/cache.py: the settings' Redis cache backend keeps one redis-py client per server."""
import redis
from django.core.cache.backends import redis as django_redis

from studentperf.cache import RedisCache

LOCATION = "redis://127.0.0.1:1/0"  # no connection is made by these tests


def test_every_call_gets_the_same_client_for_reads_and_writes():
    backend = RedisCache(LOCATION, {"OPTIONS": {"socket_connect_timeout": 1}})
    client = backend._cache.get_client()

    assert isinstance(client, redis.Redis)
    assert backend._cache.get_client("key") is client
    assert backend._cache.get_client("key", write=True) is client  # one server: reads and writes go to it
    assert client.connection_pool is backend._cache._get_connection_pool(True)
    # Django's own client makes a new one per call: what this backend saves.
    plain = django_redis.RedisCache(LOCATION, {})
    assert plain._cache.get_client() is not plain._cache.get_client()


def test_each_server_keeps_its_own_client():
    backend = RedisCache(["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"], {})

    write = backend._cache.get_client(write=True)
    reads = {id(backend._cache.get_client()) for _ in range(20)}  # reads go to the second server (the replica)

    assert write.connection_pool.connection_kwargs["port"] == 1
    assert reads == {id(backend._cache.get_client())}
    assert backend._cache.get_client().connection_pool.connection_kwargs["port"] == 2
