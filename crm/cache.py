"""The embedded run's cache: Django's file cache with an atomic ``add`` and ``incr``.

One-time form tokens (crm.idempotency) claim with ``cache.add`` and rate limits
(crm.throttling) count with ``cache.incr``; both must hold across the web, worker and beat
processes of ``make run``, which share no memory. Django's file cache does both as read, then
write, so two requests at the same moment could both claim one token. Here ``add`` checks and
writes under an exclusive lock on one lock file of the cache folder, and ``incr`` rewrites the
entry in place under an exclusive lock on the entry's file. Production uses Redis
(``REDIS_URL``), where both are single commands.
"""

from __future__ import annotations

import os
import pickle
import time
import zlib

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.files import locks


class AtomicFileBasedCache(FileBasedCache):
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        # One lock file for every add: the check and the write happen as one step across
        # processes (adds are rare and quick; reads take no lock).
        self._createdir()
        with open(os.path.join(self._dir, "add.lock"), "ab") as lock:
            locks.lock(lock, locks.LOCK_EX)
            try:
                if self.has_key(key, version):
                    return False
                self.set(key, value, timeout, version)
                return True
            finally:
                locks.unlock(lock)

    def incr(self, key, delta=1, version=None):
        fname = self._key_to_file(key, version)
        try:
            with open(fname, "r+b") as f:
                locks.lock(f, locks.LOCK_EX)
                try:
                    # The cache's own files, written by this class (as Django's file cache
                    # reads them): not data from users.
                    expiry = pickle.load(f)  # noqa: S301
                    if expiry is not None and expiry < time.time():
                        raise ValueError(f"Key '{key}' not found")
                    value = pickle.loads(zlib.decompress(f.read())) + delta  # noqa: S301
                    f.seek(0)
                    f.write(pickle.dumps(expiry, self.pickle_protocol))
                    f.write(zlib.compress(pickle.dumps(value, self.pickle_protocol)))
                    f.truncate()
                    return value
                finally:
                    locks.unlock(f)
        except FileNotFoundError:
            raise ValueError(f"Key '{key}' not found") from None
