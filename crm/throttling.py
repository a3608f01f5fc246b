"""Per-user rate limits of searches that could be used to enumerate a company's records (the
查重 page and the duplicate warnings of the forms, issue 15).

A fixed window per minute in the shared cache (``django.core.cache``): ``cache.add`` creates the
window's counter atomically and ``cache.incr`` counts atomically, so that the web processes
share one budget per user: on Redis (production) and on the embedded run's file cache
(``crm.cache.AtomicFileBasedCache``).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy

PERIOD_SECONDS = 60


def hit(scope: str, key: object, limit: int, period: int = PERIOD_SECONDS) -> bool:
    """Count one more use of ``scope`` by ``key`` (a user's id) in the current window and say
    whether it is still allowed (at most ``limit`` per ``period`` seconds). A refused use
    counts too: hammering does not open the next window any sooner."""
    window = int(time.time() // period)
    name = f"throttle:{scope}:{key}:{window}"
    # The counter outlives its window a little, so that add + incr never meet an expired key.
    cache.add(name, 0, timeout=period * 2)
    try:
        count = cache.incr(name)
    except ValueError:  # evicted between add and incr: start again
        cache.add(name, 1, timeout=period * 2)
        count = 1
    return count <= limit


# ---------------------------------------------------------------- 查重

DUPLICATE_CHECK_REFUSED = gettext_lazy(
    "Too many duplicate checks in a minute. Wait a moment, then try again."
)


def duplicate_check_allowed(user) -> bool:
    """One more 查重 search by ``user`` (the page and the forms' warnings share one budget of
    ``DUPLICATE_CHECK_PER_MINUTE``)."""
    return hit("duplicate-check", user.pk, settings.DUPLICATE_CHECK_PER_MINUTE)
