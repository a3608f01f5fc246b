"""Request middleware of the core (the tenant scope middleware lives in crm.tenancy)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation


class ChosenLanguageMiddleware(LocaleMiddleware):
    """zh-hans for everybody unless they chose another language in the menu (cookie).

    Django's LocaleMiddleware would follow the browser's Accept-Language header; Chinese
    teams often run English-language browsers and still expect the Chinese UI.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        try:
            code = translation.get_supported_language_variant(chosen) if chosen else None
        except LookupError:
            code = None
        translation.activate(code or settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()


class PasswordChangeRequiredMiddleware:
    """SECURITY: a user whose password was set by someone else (``must_change_password``:
    a reset or a generated initial password) reaches nothing but the password-change page
    until they chose their own; sign-out, the language switch and static files stay open.

    Any other request is sent to that page: a redirect, or for htmx an ``HX-Redirect``
    (a 204 without it when the request comes from the password-change page itself, so the
    bell's polling does not reload the page under the user's typing).
    Placed after ``AuthenticationMiddleware`` (it needs ``request.user``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.tenant_id is not None  # the page is a tenant page; operators use /admin/
            and user.must_change_password
            and not self._open(request.path_info)
        ):
            return self._to_password_change(request)
        return self.get_response(request)

    @staticmethod
    def _open(path: str) -> bool:
        open_paths = (reverse("crm:password-change"), reverse("logout"), reverse("set_language"))
        return path in open_paths or path.startswith("/" + settings.STATIC_URL.lstrip("/"))

    @staticmethod
    def _to_password_change(request) -> HttpResponse:
        url = reverse("crm:password-change")
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(status=204)
            current = urlsplit(request.headers.get("HX-Current-URL", "")).path
            if current != url:
                response["HX-Redirect"] = url
            return response
        return redirect(url)
