"""Request middleware of the core (the tenant scope middleware lives in crm.tenancy)."""

from __future__ import annotations

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
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
