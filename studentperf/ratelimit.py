"""Rate limits counted atomically: how often a key was hit in the current window of its rate.

Fixed windows: a rate's period ("600/min": 60 s) cuts the clock into consecutive windows (a minute's start at
:00), and a key's count is the number of hits in the window now running; it starts again at 0 in the next one.
Within one window no more than the limit gets through, however many requests arrive at once: each hit is one
atomic increment, and the count it returns decides. The price of fixed windows: a client may spend its whole
budget at the end of one window and again at the start of the next, so up to twice the limit within a short span
across a boundary (DRF's sliding log had no such burst, but read, changed and wrote a list back, so concurrent
requests overwrote each other's hits: issue 18, attack 3).

Where the counts live (settings.CACHES["default"]):
- Redis (studentperf.cache.RedisCache): shared by every process; one round trip per hit (SET NX EX + INCR in a
  MULTI), one GET for a read.
- Django's in-memory cache (LocMemCache, the test settings): its own lock makes each hit atomic in the process.
- Any other cache (the database cache used without Redis): not atomic across processes, so each process counts
  in its own memory instead, under a lock; the limits then hold per process (said once in the log).
Should Redis stop answering, each process counts in its own memory for SHARED_CACHE_RETRY_SECONDS before it tries
Redis again, and logs an error: the API keeps serving, with per-process limits meanwhile.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError

from studentperf.cache import RedisCache
from studentperf.env import Rate, rate_parse  # noqa: F401  (rate_parse: the format, read here and by the settings)

logger = logging.getLogger(__name__)
SHARED_CACHE_RETRY_SECONDS = 10
KEY_PREFIX = "ratelimit"
# The counts of this process when the cache is not shared or Redis does not answer: at most this many keys
# (addresses, API keys, users) per process; beyond it a third of them are dropped, as LocMemCache culls.
_local_counts = LocMemCache("studentperf-rate-limits", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
_shared_cache_down_until = 0.0  # time.monotonic() before which Redis is not tried
_said_per_process = False


@dataclass(frozen=True)
class Window:
    count: int  # hits in the current window (this one included, for rate_hit)
    seconds_left: float  # until the window ends and the count starts again: the Retry-After of a refusal


def clock() -> float:
    """The time windows are cut from (tests set it)."""
    return time.time()


def rate_hit(name: str, *, rate: Rate) -> Window:
    """Count one hit of `name` in the current window of `rate`."""
    key, seconds_left = _window_key(name, rate)
    count = _counted(lambda cache: _incr(cache, key, timeout=rate.seconds + 1))
    return Window(count=count, seconds_left=seconds_left)


def rate_read(name: str, *, rate: Rate) -> Window:
    """The hits of `name` in the current window of `rate`, without counting one."""
    key, seconds_left = _window_key(name, rate)
    count = _counted(lambda cache: int(cache.get(key) or 0))
    return Window(count=count, seconds_left=seconds_left)


def _window_key(name: str, rate: Rate) -> tuple[str, float]:
    now = clock()
    index = math.floor(now / rate.seconds)
    # A key names its window, so it is never read after it: it expires a second after its window could end.
    return f"{KEY_PREFIX}:{name}:{rate.seconds}:{index}", (index + 1) * rate.seconds - now


def _counted(operation):
    global _shared_cache_down_until
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        if time.monotonic() >= _shared_cache_down_until:
            try:
                return operation(cache)
            except RedisError as exc:
                _shared_cache_down_until = time.monotonic() + SHARED_CACHE_RETRY_SECONDS
                logger.error(
                    "rate limits counted per process: the shared cache does not answer",
                    extra={"reason": repr(exc), "retry_seconds": SHARED_CACHE_RETRY_SECONDS},
                )
        return operation(_local_counts)
    if isinstance(cache, LocMemCache):
        return operation(cache)
    _say_per_process(cache)
    return operation(_local_counts)


def _incr(cache, key: str, *, timeout: int) -> int:
    if isinstance(cache, RedisCache):
        return cache.incr_expiring(key, timeout=timeout)
    while True:  # LocMemCache: add and incr each hold its lock; a key culled in between is added again
        cache.add(key, 0, timeout)
        try:
            return cache.incr(key)
        except ValueError:
            continue


def _say_per_process(cache) -> None:
    global _said_per_process
    if not _said_per_process:
        _said_per_process = True
        logger.info(
            "rate limits counted per process: the cache is not Redis",
            extra={"cache_backend": type(cache).__name__},
        )
