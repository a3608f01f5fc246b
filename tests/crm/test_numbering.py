"""Per-tenant document numbering: prefix + date + sequence, never the same number twice."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection, transaction

from crm.services import number_next
from tests.factories import TenantFactory

DAY = datetime.date(2026, 11, 22)


def test_numbers_count_up_per_tenant_prefix_and_day(world):
    a, b = world.tenant_a.pk, world.tenant_b.pk
    assert number_next(tenant_id=a, prefix="HT", day=DAY) == "HT20261122-0001"
    assert number_next(tenant_id=a, prefix="HT", day=DAY) == "HT20261122-0002"
    # Another tenant, prefix or day has its own sequence.
    assert number_next(tenant_id=b, prefix="HT", day=DAY) == "HT20261122-0001"
    assert number_next(tenant_id=a, prefix="DD", day=DAY) == "DD20261122-0001"
    next_day = DAY + datetime.timedelta(days=1)
    assert number_next(tenant_id=a, prefix="HT", day=next_day) == "HT20261123-0001"


def test_today_is_the_default_day(world):
    from django.utils import timezone

    number = number_next(tenant_id=world.tenant_a.pk, prefix="BJ")
    assert number == f"BJ{timezone.localdate():%Y%m%d}-0001"


def test_a_rolled_back_caller_gives_its_number_back(world):
    a = world.tenant_a.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        number_next(tenant_id=a, prefix="HK", day=DAY)
        raise RuntimeError
    assert number_next(tenant_id=a, prefix="HK", day=DAY) == "HK20261122-0001"


@pytest.mark.parametrize("prefix", ["", "ht", "HT1", "TOOLONGPREFIX", "H'T"])
def test_bad_prefixes_are_refused(world, prefix):
    with pytest.raises(ValueError):
        number_next(tenant_id=world.tenant_a.pk, prefix=prefix, day=DAY)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_never_get_the_same_number():
    """20 threads × 25 numbers on PostgreSQL, each in its own transaction and connection."""
    assert connection.vendor == "postgresql"
    tenant = TenantFactory()
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def worker():
        try:
            barrier.wait(timeout=30)
            for _ in range(25):
                with transaction.atomic():
                    number = number_next(tenant_id=tenant.pk, prefix="HT", day=DAY)
                with lock:
                    results.append(number)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(results) == 500
    assert len(set(results)) == 500
    assert sorted(results) == [f"HT20261122-{i:04d}" for i in range(1, 501)]
