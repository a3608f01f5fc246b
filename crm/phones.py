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


def mobile_digits(value: str) -> str | None:
    """A mainland mobile number as 11 digits, or None. PERF: no exception for a value that
    is not one (imports check 100,000s of cells: a ValidationError refers to itself, so
    each one raised lives on, with the frames of its traceback, till the cyclic garbage
    collector runs)."""
    digits = _clean(value).replace("-", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if MOBILE_RE.match(digits) else None


def phone_digits(value: str) -> str | None:
    """A mobile number (normalised) or a landline such as 010-12345678 / 0571-8888888-123,
    or None (see :func:`mobile_digits`)."""
    mobile = mobile_digits(value)
    if mobile is not None:
        return mobile
    cleaned = _clean(value)
    if cleaned.startswith("+86"):
        cleaned = "0" + cleaned[3:].lstrip("-")
    return cleaned if LANDLINE_RE.match(cleaned) else None


def normalize_mobile(value: str) -> str:
    """A mainland mobile number as 11 digits, or ValidationError."""
    digits = mobile_digits(value)
    if digits is None:
        raise ValidationError(
            _("Enter a valid mainland mobile number (11 digits starting with 1)."),
            code="invalid_mobile",
        )
    return digits


def normalize_phone(value: str) -> str:
    """A mobile number (normalised) or a landline such as 010-12345678 / 0571-8888888-123."""
    phone = phone_digits(value)
    if phone is None:
        raise ValidationError(
            _("Enter a valid mobile or landline number, e.g. 13800138000 or 010-12345678."),
            code="invalid_phone",
        )
    return phone
