"""Settings for the test suite: the app's settings with fast hashing and a test-only app.

DATABASE_URL (PostgreSQL in CI) and REDIS_URL come from the environment as in production.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("TIDEPOOL_VAR_DIR", tempfile.mkdtemp(prefix="tidepool-tests-"))

from crm.settings import *  # noqa: F403
from crm.settings import DATABASES, INSTALLED_APPS, STATIC_ROOT, STORAGES

STATIC_ROOT.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SECURE_SSL_REDIRECT = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Unit tests run tasks inline; tests/crm/test_tasks.py runs a real worker on the broker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Lockout is tested on purpose in tests/crm/test_auth.py (it turns axes back on).
AXES_ENABLED = False
# The demo loader's size (customers/demo.py): small in tests, so that browser tests that load
# the demo per test stay quick; `make run` loads the full 2,000.
DEMO_CUSTOMERS = 100

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tests with threads (tests/pools/test_concurrency.py) need a file: the in-memory test
    # database is one shared-cache connection set and answers "table is locked". One file
    # per process, so that parallel runs in one checkout never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(os.environ["TIDEPOOL_VAR_DIR"], f"test-{os.getpid()}.sqlite3")
    }
