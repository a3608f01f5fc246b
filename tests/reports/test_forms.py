"""ReportFilterForm: defaults, presets and custom ranges, choices inside the data scope,
refusals as form errors, the filters in words."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from reports.forms import ReportFilterForm
from reports.periods import Period
from tests.factories import make_user

D = datetime.date
# 16 December 2026 at 10:00 in Shanghai.
NOW = datetime.datetime(2026, 12, 16, 2, tzinfo=datetime.UTC)


def _form(actor, scoped, data=None):
    with scoped(actor):
        form = ReportFilterForm(data, actor=actor)
        form.is_valid()
        return form


def test_no_data_is_this_month_for_everyone_in_scope(world, scoped):
    w = world
    with scoped(w.manager_sales):
        form = ReportFilterForm(None, actor=w.manager_sales)
        assert form.is_valid(), form.errors
        period, scope = form.resolve(now=NOW)
    assert period == Period("this_month", D(2026, 12, 1), D(2026, 12, 31))
    assert scope.user_ids == {w.manager_sales.pk, w.rep_east.pk, w.rep_east2.pk, w.rep_west.pk}


def test_presets_follow_the_tenants_today(world, scoped):
    w = world
    late = datetime.datetime(2026, 12, 31, 17, tzinfo=datetime.UTC)  # 1 Jan 01:00 Shanghai
    with scoped(w.admin_a):
        form = ReportFilterForm({"preset": "today"}, actor=w.admin_a)
        assert form.is_valid()
        assert form.resolve(now=late)[0] == Period("today", D(2027, 1, 1), D(2027, 1, 1))


def test_custom_range(world, scoped):
    w = world
    form = _form(
        w.admin_a, scoped, {"preset": "custom", "first": "2026-11-03", "last": "2026-11-09"}
    )
    assert form.is_valid()
    with scoped(w.admin_a):
        assert form.resolve(now=NOW)[0] == Period("custom", D(2026, 11, 3), D(2026, 11, 9))


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"preset": "custom", "last": "2026-11-09"}, "first", "请选择开始日期。"),
        (
            {"preset": "custom", "first": "2026-11-09", "last": "2026-11-01"},
            "last",
            "结束日期早于开始日期。",
        ),
        (
            {"preset": "custom", "first": "2020-01-01", "last": "2026-11-01"},
            "last",
            "时间范围最多三年。",
        ),
        ({"preset": "custom", "first": "2026-13-45"}, "first", "请输入有效的日期。"),
        ({"preset": "next_decade"}, "preset", None),
        ({"department": "999999"}, "department", None),
        ({"person": "abc"}, "person", None),
    ],
)
def test_bad_input_is_a_form_error_never_an_exception(world, scoped, data, field, message):
    w = world
    form = _form(w.admin_a, scoped, data)
    assert not form.is_valid()
    assert field in form.errors
    if message:
        assert form.errors[field] == [message]
    with pytest.raises(ValueError):
        form.resolve()


def test_department_and_person_choices_are_the_scope(world, scoped):
    w = world
    gone = make_user(w.tenant_a, "gone_west", department=w.west, is_active=False, name="老王")
    with scoped(w.manager_sales):
        form = ReportFilterForm({}, actor=w.manager_sales)
        assert list(form.fields["department"].queryset) == [w.sales, w.east, w.west]
        people = list(form.fields["person"].queryset)
        assert set(people) == {w.manager_sales, w.rep_east, w.rep_east2, w.rep_west, gone}
        assert people[-1] == gone  # the deactivated last
        html = str(form["person"])
        assert "data-user-picker" in html
        assert "service_a" not in html and "admin_a" not in html and "rep_b" not in html
        with translation.override("zh-hans"):
            assert "老王（已停用）" in html


@pytest.mark.parametrize(
    ("persona", "data", "field"),
    [
        ("manager_sales", {"department": "service"}, "department"),
        ("manager_sales", {"person": "service_a"}, "person"),
        ("rep_east", {"person": "rep_east2"}, "person"),
        ("rep_east", {"department": "sales"}, "department"),
        ("admin_a", {"person": "rep_b"}, "person"),
    ],
)
def test_outside_the_scope_is_refused(world, scoped, persona, data, field):
    w = world
    data = {k: str(getattr(w, v).pk) for k, v in data.items()}
    form = _form(getattr(w, persona), scoped, data)
    assert not form.is_valid()
    assert list(form.errors) == [field]


def test_rep_gets_only_themself(world, scoped):
    w = world
    form = _form(w.rep_east, scoped, {"department": str(w.east.pk)})
    assert form.is_valid()
    with scoped(w.rep_east):
        assert form.resolve(now=NOW)[1].user_ids == {w.rep_east.pk}


def test_department_only_this_department_and_person(world, scoped):
    w = world
    form = _form(w.admin_a, scoped, {"department": str(w.sales.pk), "only_this_department": "on"})
    with scoped(w.admin_a):
        assert form.resolve(now=NOW)[1].user_ids == {w.manager_sales.pk}
    form = _form(w.admin_a, scoped, {"department": str(w.sales.pk), "person": str(w.rep_west.pk)})
    with scoped(w.admin_a):
        assert form.resolve(now=NOW)[1].user_ids == {w.rep_west.pk}


def test_description_names_the_filters(world, scoped):
    w = world
    with translation.override("en"):
        form = _form(
            w.admin_a,
            scoped,
            {
                "preset": "custom",
                "first": "2026-12-01",
                "last": "2026-12-31",
                "department": str(w.sales.pk),
                "only_this_department": "on",
                "person": str(w.manager_sales.pk),
            },
        )
        assert form.description() == [
            ("Period", "2026-12-01 to 2026-12-31"),
            ("Department", "销售部 (only this department)"),
            ("Person", "manager_sales"),
        ]
    with translation.override("zh-hans"):
        form = _form(w.admin_a, scoped, {})
        assert form.description()[1] == ("部门", "全部部门")


def test_fixed_number_of_queries(world, scoped):
    w = world

    def count():
        with scoped(w.admin_a), CaptureQueriesContext(connection) as queries:
            form = ReportFilterForm({"department": str(w.sales.pk)}, actor=w.admin_a)
            assert form.is_valid()
            form.resolve(now=NOW)
            str(form["person"]), str(form["department"])
        return len(queries)

    before = count()
    for n in range(10):
        make_user(w.tenant_a, f"extra_{n}", department=w.east)
    assert count() == before
