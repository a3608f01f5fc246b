"""``{% load modal_tags %}``: the fields a reason modal shows
(templates/components/reason_modal.html).

A reason modal posts a form of which it shows only some fields (a lead page's close modal
shows ``close_reason`` and ``close_note`` of the whole batch form): ``form|modal_fields:names``
gives those bound fields in the order named, ``form|modal_other_errors:names`` the errors the
modal must still show at its top (non-field errors and those of fields it does not show, such
as ``ids`` when nothing was ticked)."""

from __future__ import annotations

from django import template

register = template.Library()


def _names(form, names: str) -> list[str]:
    if not names:
        return [field.name for field in form.visible_fields()]
    return [name for name in names.split() if name in form.fields]


@register.filter
def modal_fields(form, names: str = ""):
    """The bound fields ``names`` (space separated) of ``form``; all visible ones when empty."""
    return [form[name] for name in _names(form, names)]


@register.filter
def modal_other_errors(form, names: str = "") -> list[str]:
    """The form's errors that no shown field carries: non-field errors first."""
    shown = set(_names(form, names))
    errors = [str(e) for e in form.non_field_errors()]
    for name, field_errors in form.errors.items():
        if name != "__all__" and name not in shown:
            errors.extend(str(e) for e in field_errors)
    return errors
