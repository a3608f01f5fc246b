"""Uploads: the request body limit checked before a byte of a file is written, its answer to
the user, and the check that uploaded files are never reachable by a static route.

``UploadLimitHandler`` is first in ``settings.FILE_UPLOAD_HANDLERS``: Django asks it before
the memory and temporary-file handlers store anything. It refuses a multipart body whose
declared length (``CONTENT_LENGTH``) is over ``settings.UPLOAD_MAX_BYTES`` (plus a little for
the form's other fields) without reading it, and counts the file bytes as they arrive, so a
body longer than it said is stopped at the limit too. The refusal is an ``UploadTooLargeError``
(a ``MultiPartParserError``: Django answers it with the 400 handler even with DEBUG on, and
the request's POST and FILES stay empty); ``crm.urls.handler400`` turns it into
``upload_too_large_response``: a 413 page with the limit in the user's language, or for htmx
the refusal message out of band (422, as every refusal).

Uploaded files are served only by views that check who may see them (attachments, import
error files, exports); ``check_media_not_served`` (a system check) refuses settings that put
``MEDIA_ROOT`` where WhiteNoise or the static files finders would serve it.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core import checks
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.translation import gettext as _

# What a multipart body may hold besides its files: the boundaries and part headers, the
# CSRF token, the form's other fields (their own limit is DATA_UPLOAD_MAX_MEMORY_SIZE).
FORM_OVERHEAD_BYTES = 256 * 1024


def upload_limit() -> int:
    """The most file bytes one request may carry (``settings.UPLOAD_MAX_BYTES``)."""
    return settings.UPLOAD_MAX_BYTES


class UploadTooLargeError(MultiPartParserError):
    """A request body over the upload limit; nothing of it was stored."""

    def __init__(self, limit: int, received: int) -> None:
        super().__init__(f"upload of {received} bytes refused: the limit is {limit}")
        self.limit = limit
        self.received = received


class UploadLimitHandler(FileUploadHandler):
    """SECURITY: the total-size guard, first of the upload handlers (see the module's
    docstring). Nothing partial stays on disk: a refusal closes the other handlers' files
    (a temporary file is deleted when closed) before Django would write another chunk."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.limit = upload_limit()
        self.received = 0
        if content_length > self.limit + FORM_OVERHEAD_BYTES:
            # Refused from the declared length: not one byte of the body is read.
            raise UploadTooLargeError(self.limit, content_length)
        return None  # the other handlers parse it

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._discard_partial_files()
            raise UploadTooLargeError(self.limit, self.received)
        return raw_data

    def file_complete(self, file_size: int):
        return None  # the next handler builds the file

    def _discard_partial_files(self) -> None:
        for handler in getattr(self.request, "upload_handlers", ()):
            partial = getattr(handler, "file", None)
            if handler is not self and partial is not None:
                partial.close()


def upload_too_large_message(limit: int) -> str:
    return _(
        "The upload is larger than %(limit)s MB, the most a file may be: nothing was saved. "
        "Split or compress the file and try again."
    ) % {"limit": f"{limit / (1024 * 1024):g}"}


def upload_too_large_response(request: HttpRequest, exc: UploadTooLargeError) -> HttpResponse:
    """The answer to a refused upload: the 413 page with the limit, in the user's language;
    for htmx, the message out of band with status 422 and the target kept (the way every
    refusal reaches an htmx form, crm.views.base.refusal_response)."""
    message = upload_too_large_message(exc.limit)
    if getattr(request, "htmx", False):
        messages.error(request, message)
        response = render(request, "error_base.html#refusal", status=422)
        response["HX-Reswap"] = "none"
        return response
    return render(request, "413.html", {"message": message}, status=413)


# ---------------------------------------------------------------- no static route to uploads


def _served_folders() -> list[tuple[str, Path]]:
    folders = []
    if settings.STATIC_ROOT:
        folders.append(("STATIC_ROOT", Path(settings.STATIC_ROOT)))
    for entry in settings.STATICFILES_DIRS:
        folder = entry[1] if isinstance(entry, list | tuple) else entry
        folders.append(("STATICFILES_DIRS", Path(folder)))
    if getattr(settings, "WHITENOISE_ROOT", None):
        folders.append(("WHITENOISE_ROOT", Path(settings.WHITENOISE_ROOT)))
    return folders


def media_static_overlaps() -> list[str]:
    """The static settings whose folder is MEDIA_ROOT or holds it."""
    media = Path(settings.MEDIA_ROOT).resolve()
    found = []
    for name, folder in _served_folders():
        folder = folder.resolve()
        if media == folder or folder in media.parents:
            found.append(name)
    return found


@checks.register(checks.Tags.security)
def check_media_not_served(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """SECURITY: uploaded files are served only by views that check visibility; a
    MEDIA_ROOT inside a folder WhiteNoise or the static finders serve would make them
    public."""
    return [
        checks.Error(
            f"MEDIA_ROOT ({settings.MEDIA_ROOT}) overlaps {name}: uploaded files would be "
            "served without any permission check.",
            hint="Keep MEDIA_ROOT outside every static folder (default: var/media).",
            id="tidepool.E001",
        )
        for name in media_static_overlaps()
    ]
