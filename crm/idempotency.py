"""One-time form tokens: a create form submitted twice (a double click, a resubmit after a
slow answer, the back button) creates its record once.

A create form renders ``{% once_token %}`` (``crm/templatetags/once.py``) next to
``{% csrf_token %}``: a hidden field holding a fresh random token. The view that handles
the form is decorated with ``@once`` (inside ``tenant_view``). The first POST carrying a
token claims it atomically in the cache (``cache.add``: Redis ``SET NX`` in production)
and runs the view; a successful answer (below 400, no error message queued) is kept for
``DONE_SECONDS`` under the token. A second POST with the same token, by the same user to
the same URL, runs nothing: it gets the first answer again (the same redirect, or the same
htmx fragment), waiting up to ``WAIT_SECONDS`` while the first is still being handled. An
answer that refused the form (a 4xx, an error message) gives the token back, so the
corrected form may be sent again. A POST without a token behaves as before.

A file download (an answer with ``Content-Disposition: attachment``, e.g. a small export
built in the request) is replayed too, headers included, but kept for
``DOWNLOAD_SECONDS`` only (a double click's second request comes within seconds; the file's
rows should not sit in the cache for hours), and not at all above ``MAX_KEPT_BYTES`` (the
token is given back: a later submission builds the file again). A streamed answer is never
kept.

``@once(vary=("ids",))``: the named POST fields join the key, for a form whose fields
change while the page (and so its token) stays, such as a list's batch form whose
"export selected" downloads a file without leaving the page: the same ticked rows sent
twice are one submission, other rows another one.

The token is not a secret: it only names one submission of the user's own form (CSRF
protects the form itself), and the cache key holds the user and the URL, so a token sent
by someone else, or to another URL (query string included), is another submission.

The claim is atomic in every cache the project runs on: Redis (production), the embedded
run's file cache (``crm.cache.AtomicFileBasedCache``) and the local-memory cache (tests).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from functools import wraps

from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from crm.exceptions import ServiceError

FIELD = "once_token"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
PENDING = "pending"
#: How long a claimed token stays claimed while its first submission is handled (a
#: crashed worker's claim lapses after this).
PENDING_SECONDS = 120
#: How long the first answer is replayed to a repeated submission.
DONE_SECONDS = 6 * 60 * 60
#: How long a repeated submission waits for the first one to finish.
WAIT_SECONDS = 15.0
POLL_SECONDS = 0.05
#: Response headers kept with the answer (htmx's ``HX-*`` included).
KEPT_HEADERS = ("content-type", "location", "content-disposition")
#: How long a file download is replayed (see the module's docstring).
DOWNLOAD_SECONDS = 2 * 60
#: The largest answer kept for a replay.
MAX_KEPT_BYTES = 20 * 1024 * 1024


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _key(request: HttpRequest, token: str, vary: tuple[str, ...] = ()) -> str:
    fields = "\n".join(f"{name}={request.POST.getlist(name)!r}" for name in vary)
    # The full URL: a list's 导出 form carries the list's filters in its action's query.
    url = request.get_full_path()
    where = hashlib.sha256(f"{url}\n{token}\n{fields}".encode()).hexdigest()
    return f"crm:once:{request.user.pk}:{where}"


def _failed(request: HttpRequest, response: HttpResponse) -> bool:
    """A refused form: a 4xx/5xx answer, a streamed one (not kept), or an error message
    queued by this request (the views that refuse with a message and a redirect)."""
    if response.status_code >= 400 or getattr(response, "streaming", False):
        return True
    queued = getattr(getattr(request, "_messages", None), "_queued_messages", ())
    return any(m.level >= messages.ERROR for m in queued)


def _freeze(response: HttpResponse) -> dict:
    headers = {
        name: value
        for name, value in response.items()
        if name.lower() in KEPT_HEADERS or name.lower().startswith("hx-")
    }
    content = b"" if 300 <= response.status_code < 400 else response.content
    return {"status": response.status_code, "headers": headers, "content": content}


def _thaw(frozen: dict) -> HttpResponse:
    response = HttpResponse(frozen["content"], status=frozen["status"])
    for name, value in frozen["headers"].items():
        response[name] = value
    return response


def _run(view, request, key, args, kwargs) -> HttpResponse:
    try:
        response = view(request, *args, **kwargs)
    except BaseException:
        cache.delete(key)
        raise
    if _failed(request, response) or len(response.content) > MAX_KEPT_BYTES:
        cache.delete(key)
    else:
        # The views' services are atomic and commit before the view answers (no
        # ATOMIC_REQUESTS), so what the answer points to is visible to a repeated
        # submission from now on.
        download = response.get("Content-Disposition", "").startswith("attachment")
        cache.set(key, _freeze(response), DOWNLOAD_SECONDS if download else DONE_SECONDS)
    return response


def once(view=None, *, vary: tuple[str, ...] = ()):
    """Handle each one-time token of ``view``'s form once (see the module's docstring).
    ``@once`` or ``@once(vary=(field, …))``."""
    if view is None:
        return lambda view: once(view, vary=tuple(vary))

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = request.POST.get(FIELD, "") if request.method == "POST" else ""
        if not TOKEN_RE.fullmatch(token):
            return view(request, *args, **kwargs)
        key = _key(request, token, vary)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            if cache.add(key, PENDING, PENDING_SECONDS):
                return _run(view, request, key, args, kwargs)
            frozen = cache.get(key)
            if isinstance(frozen, dict):
                return _thaw(frozen)
            # Still being handled (or just given back: then add() claims it next turn).
            if time.monotonic() > deadline:
                raise ServiceError(
                    _("This form is still being saved. Reload the page in a moment."),
                    code="in_progress",
                )
            time.sleep(POLL_SECONDS)

    # Marks the view (``functools.wraps`` carries it up through the outer decorators): the
    # sweep test of the create URLs (tests/crm/test_create_once.py) finds the tokened views.
    wrapper.once_vary = tuple(vary)
    return wrapper
