"""Searchable pickers: plain ``<select>`` elements that ``static/js/picker.js`` turns into Tom
Select controls (``static/vendor/tom-select/``) from their ``data-`` attributes.

Every option carries what the picker shows and searches (the person's name, username and
department), so the options are local: no autocomplete view, the form's queryset (already
scoped to the tenant) is the whole list. Without JavaScript the plain select works and reads
"陈静 · 华东销售部".

The department must come with the users: the person fields of ``crm.forms`` add
``select_related("department")`` to every queryset they are given, so a picker of N users is
one query. A user whose department was not fetched shows no department rather than costing a
query of its own."""

from __future__ import annotations

from django import forms
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from crm.models import User

SEPARATOR = " · "


def _department_name(user: User) -> str:
    if not user.department_id or not User.department.is_cached(user):
        return ""
    return user.department.name


def _attrs_html(attrs: dict) -> str:
    """Django's ``django/forms/widgets/attrs.html``: `` name="value"``, a bare name for True,
    nothing for False."""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        name = conditional_escape(name)
        out.append(f" {name}" if value is True else f' {name}="{conditional_escape(str(value))}"')
    return "".join(out)


class _PythonRenderedSelect:
    """The markup of Django's ``select.html`` / ``select_option.html``, written in Python.

    PERF: Django renders each option through two template includes; a picker holds every
    user of the tenant (500 on a large one: 150 ms of a report page's filter bar). The
    output is the template's (``tests/crm/test_user_picker.py`` compares them)."""

    def _render(self, template_name, context, renderer=None):
        widget = context["widget"]
        parts = [
            f'<select name="{conditional_escape(widget["name"])}"{_attrs_html(widget["attrs"])}>'
        ]
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in group_choices:
                parts.append(
                    f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                    f"{_attrs_html(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
                )
            if group_name:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


class _UserPickerMixin(_PythonRenderedSelect):
    """Options of users with ``data-name``, ``data-username`` and ``data-department``."""

    def __init__(self, attrs=None, *args, **kwargs):
        base = {
            "data-user-picker": "",
            "data-placeholder": _("Type a name, username or department"),
            "data-no-results": _("No one matches"),
        }
        super().__init__({**base, **(attrs or {})}, *args, **kwargs)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        user = getattr(value, "instance", None)
        if isinstance(user, User):
            department = _department_name(user)
            option["attrs"].update(
                {
                    "data-name": str(label),
                    "data-username": user.username,
                    "data-department": department,
                }
            )
            if department:
                option["label"] = f"{label}{SEPARATOR}{department}"
        return option


class UserPicker(_UserPickerMixin, forms.Select):
    """One user (a new owner, a referrer, a department head)."""


class UserPickerMultiple(_UserPickerMixin, forms.SelectMultiple):
    """Several users (participants, members, admins, employees to import for)."""


class DepartmentPickerMultiple(_PythonRenderedSelect, forms.SelectMultiple):
    """Several departments, searchable by name; the indented labels keep the tree."""

    def __init__(self, attrs=None, *args, **kwargs):
        base = {
            "data-department-picker": "",
            "data-placeholder": _("Type a department name"),
            "data-no-results": _("No department matches"),
        }
        super().__init__({**base, **(attrs or {})}, *args, **kwargs)
