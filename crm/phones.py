"""Phone numbers as Chinese users type them: +86, spaces, dashes, full-width digits."""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# re.ASCII: \d would also take other scripts' digits (Arabic-Indic, Devanagari …), which
# NFKC does not fold; a number is only accepted in 0-9.
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$", re.ASCII)


def _clean(value: str) -> str:
    # NFKC folds full-width digits and signs (１３８, ＋, －) into ASCII.
    value = unicodedata.normalize("NFKC", value or "").strip()
    return re.sub(r"[\s()（）]", "", value)


def normalize_mobile(value: str) -> str:
    """A mainland mobile number as 11 digits, or ValidationError."""
    digits = _clean(value).replace("-", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not MOBILE_RE.match(digits):
        raise ValidationError(
            _("Enter a valid mainland mobile number (11 digits starting with 1)."),
            code="invalid_mobile",
        )
    return digits


def normalize_phone(value: str) -> str:
    """A mobile number (normalised) or a landline such as 010-12345678 / 0571-8888888-123."""
    try:
        return normalize_mobile(value)
    except ValidationError:
        pass
    cleaned = _clean(value)
    if cleaned.startswith("+86"):
        cleaned = "0" + cleaned[3:].lstrip("-")
    if LANDLINE_RE.match(cleaned):
        return cleaned
    raise ValidationError(
        _("Enter a valid mobile or landline number, e.g. 13800138000 or 010-12345678."),
        code="invalid_phone",
    )
