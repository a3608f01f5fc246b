"""crm.throttling: a fixed window per minute in the shared cache. On Redis (production) many
requests at the same moment never let more than the limit through (cache.add + cache.incr are
atomic there); the 查重 views that use it are tested in
tests/customers/test_duplicate_check_security.py."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.cache import cache

from crm import throttling


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_limit_holds_per_key_and_scope():
    assert [throttling.hit("s", 1, limit=2) for _ in range(4)] == [True, True, False, False]
    assert throttling.hit("s", 2, limit=2)  # another user
    assert throttling.hit("other", 1, limit=2)  # another scope


def test_a_new_window_opens_after_the_period(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(throttling.time, "time", lambda: now[0])
    assert throttling.hit("s", 1, limit=1)
    assert not throttling.hit("s", 1, limit=1)
    now[0] += throttling.PERIOD_SECONDS
    assert throttling.hit("s", 1, limit=1)


def _redis_or_skip(settings):
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL or "redis://127.0.0.1:6379/0").ping()
    except Exception:  # any failure means "no Redis here"
        pytest.skip("needs Redis (REDIS_URL or 127.0.0.1:6379)")


def test_concurrent_hits_on_redis_never_pass_the_limit(settings):
    """16 threads hit one key 10 times each at once, limit 37: exactly 37 pass."""
    _redis_or_skip(settings)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL or "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": f"tidepool-test-{uuid.uuid4().hex}",
        }
    }
    allowed = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker():
        start.wait()
        mine = sum(throttling.hit("race", 1, limit=37) for _ in range(10))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 37
