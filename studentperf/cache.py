"""The Redis cache backend of the settings' CACHES: Django's RedisCache, its redis-py clients kept.

Django's RedisCacheClient builds a new `redis.Redis` object on every cache call (`get_client`); the connection
pools are shared, but each redis-py 8 client fills a dict of ~170 response callbacks when it is made, about
0.2 ms, paid twice per API request by the rate limits (a read and a write). redis-py's clients are safe to
share between threads (each command borrows a connection from the pool) and its pools reconnect after a fork,
so one client per server is kept for the life of the process.
"""
from __future__ import annotations

from django.core.cache.backends import redis as django_redis


class KeptClientRedisCacheClient(django_redis.RedisCacheClient):
    """As Django's client, but `get_client` makes one redis.Redis per server and hands it out again."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):  # noqa: ARG002 (the signature of Django's)
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(django_redis.RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with KeptClientRedisCacheClient; same options."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = KeptClientRedisCacheClient

    def incr_expiring(self, key: str, *, timeout: int) -> int:
        """Add 1 to the counter `key`, made at 0 to live `timeout` seconds if missing: one atomic round trip (SET NX
        EX and INCR in a MULTI; studentperf/ratelimit.py). Django's add() + incr() take three, and its incr
        (EXISTS, then INCRBY) would make a key that expired in between again, with no expiry."""
        key = self.make_and_validate_key(key)
        pipeline = self._cache.get_client(key, write=True).pipeline(transaction=True)
        pipeline.set(key, 0, ex=timeout, nx=True)
        pipeline.incr(key)
        return pipeline.execute()[1]
