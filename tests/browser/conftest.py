"""Browser tests: Debian's chromium driven by Playwright's sync API against ``live_server``.

* The browser is the distribution's ``/usr/bin/chromium``; Playwright never downloads one.
  Without it, every test here is skipped with a message that says what to install.
* Each test gets a fresh browser profile (``launch_persistent_context`` on a directory under
  ``tmp_path``), so cookies, language choice and sessions never leak between tests.
* ``live_server`` (127.0.0.1, a free port) runs with ``transactional_db``; the demo data
  (tenants ``demo`` and ``other``, every password ``tidepool``) is loaded per test.
* Every wait is bounded: default timeouts on the context and its pages, and a launch timeout.
* Every context watches for Content-Security-Policy violations (crm/settings.py): chromium's
  console errors ("Refused to …", "… Content Security Policy …") and the page's
  ``securitypolicyviolation`` events; any one fails the test at teardown, so every journey
  checks that no page needs inline code or eval.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pytest-django's live_server listens on "localhost" by default; keep everything on 127.0.0.1.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM = Path("/usr/bin/chromium")
SKIP_MESSAGE = (
    "Debian's chromium is not installed (apt-get install chromium); browser tests skipped"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
DEMO_PASSWORD = "tidepool"

# Runs in every page before its own scripts: reports each CSP violation on the console, where
# the context's console listener below collects it (chromium also logs its own "Refused to").
CSP_VIOLATION_PREFIX = "[csp-violation]"
CSP_WATCH_SCRIPT = (
    'document.addEventListener("securitypolicyviolation", function (event) {\n'
    f'  console.error("{CSP_VIOLATION_PREFIX} " + event.effectiveDirective + " blocked "\n'
    '    + (event.blockedURI || "inline") + " at " + event.documentURI\n'
    '    + (event.sample ? " sample: " + event.sample : ""));\n'
    "});\n"
)


def is_csp_violation(text: str) -> bool:
    """A console error that says the Content-Security-Policy refused something."""
    return (
        text.startswith(CSP_VIOLATION_PREFIX)
        or "Refused to" in text
        or "Content Security Policy" in text
    )


def pytest_collection_modifyitems(config, items):
    """Without chromium, skip every test under tests/browser with a message that says why."""
    if CHROMIUM.exists():
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=SKIP_MESSAGE)
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def playwright_instance():
    """Playwright for one test module; stopped before the rest of the suite runs.

    Its sync API runs an event loop in this thread, and Django then refuses ORM calls from
    the test body ("You cannot call this from an async context"): DJANGO_ALLOW_ASYNC_UNSAFE
    is set while Playwright runs, and put back afterwards so other tests keep the check.
    """
    if not CHROMIUM.exists():
        pytest.skip(SKIP_MESSAGE)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            yield p
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def demo_data(transactional_db):
    """The demo tenants, loaded into the database that ``live_server`` serves."""
    from crm.demo import load_demo

    load_demo()


@pytest.fixture
def csp_violations():
    """The CSP violations seen so far by every context of the test (console texts)."""
    return []


@pytest.fixture
def new_context(playwright_instance, tmp_path, csp_violations):
    """``new_context(**options)`` launches chromium on a fresh profile and returns the context.

    Options are those of ``launch_persistent_context`` (viewport, is_mobile, locale…);
    the defaults are a 1280×800 desktop with chromium's own language (en-US): the UI is
    Chinese anyway until the user chooses English (crm.middleware.ChosenLanguageMiddleware).
    Every context opened here is closed at teardown; then the test fails if any page of them
    met a Content-Security-Policy violation.
    """
    opened = []

    def on_console(message):
        if message.type == "error" and is_csp_violation(message.text):
            csp_violations.append(f"{message.page.url if message.page else ''}: {message.text}")

    def launch(**options):
        profile = tmp_path / f"chromium-profile-{len(opened)}"
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = playwright_instance.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=30_000,
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.add_init_script(CSP_WATCH_SCRIPT)
        context.on("console", on_console)
        opened.append(context)
        return context

    yield launch
    for context in opened:
        context.close()
    if csp_violations:
        pytest.fail(
            "Content-Security-Policy violations in the browser:\n" + "\n".join(csp_violations),
            pytrace=False,
        )


@pytest.fixture
def page(new_context, live_server, demo_data):
    """A desktop page (1280×800) on a fresh profile, with the demo data in place."""
    context = new_context()
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


@pytest.fixture
def sign_in(live_server):
    """``sign_in(page, username)`` signs in through the real login form."""

    def do(page, username: str, password: str = DEMO_PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        # The button's text is translated; the form has one submit button.
        with page.expect_navigation():
            page.click("form:has(input[name=password]) button[type=submit]")
        return page

    return do
