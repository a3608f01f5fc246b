"""The embedded run's file cache (crm.cache): ``add`` and ``incr`` are atomic across processes,
as one-time form tokens (crm.idempotency) and rate limits (crm.throttling) need in ``make run``
(web, worker and beat share no memory)."""

from __future__ import annotations

import multiprocessing

import pytest

from crm.cache import AtomicFileBasedCache

PROCESSES = 12


def _race(target, directory: str, start, results) -> None:
    cache = AtomicFileBasedCache(directory, {})
    start.wait()
    results.put(target(cache))


def _add(cache) -> bool:
    return cache.add("token", "claimed", timeout=60)


def _incr(cache) -> list[int]:
    return [cache.incr("count") for _i in range(20)]


def _run(target, directory: str) -> list:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_race, args=(target, directory, start, results))
        for _i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=60) for _i in range(PROCESSES)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return answers


def test_add_from_many_processes_at_once_claims_once(tmp_path):
    answers = _run(_add, str(tmp_path))
    assert answers.count(True) == 1
    assert AtomicFileBasedCache(str(tmp_path), {}).get("token") == "claimed"


def test_incr_from_many_processes_at_once_loses_no_count(tmp_path):
    cache = AtomicFileBasedCache(str(tmp_path), {})
    assert cache.add("count", 0, timeout=60)
    answers = _run(_incr, str(tmp_path))
    assert cache.get("count") == PROCESSES * 20
    # Every process saw its own increments in order, and no two saw the same value.
    seen = [value for values in answers for value in values]
    assert sorted(seen) == list(range(1, PROCESSES * 20 + 1))


def test_add_takes_the_place_of_an_expired_entry_only(tmp_path):
    cache = AtomicFileBasedCache(str(tmp_path), {})
    assert cache.add("k", "first", timeout=60)
    assert not cache.add("k", "second", timeout=60)
    cache.set("k", "old", timeout=-1)  # already expired
    assert cache.add("k", "new", timeout=60)
    assert cache.get("k") == "new"


def test_incr_of_a_missing_or_expired_key_is_a_value_error(tmp_path):
    cache = AtomicFileBasedCache(str(tmp_path), {})
    with pytest.raises(ValueError):
        cache.incr("missing")
    cache.set("gone", 3, timeout=-1)
    with pytest.raises(ValueError):
        cache.incr("gone")


def test_the_embedded_run_uses_it():
    from crm import settings as app_settings

    if app_settings.REDIS_URL:
        pytest.skip("REDIS_URL is set: the cache is Redis")
    assert app_settings.CACHES["default"]["BACKEND"] == "crm.cache.AtomicFileBasedCache"
