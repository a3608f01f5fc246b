"""The searchable user picker (crm/widgets.py, static/js/picker.js): every form field over
users renders a ``<select data-user-picker>`` whose options carry the name, username and
department, offers only the tenant's active users (the form's queryset), and costs one query
however many users the tenant has."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.db.models import Q
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from crm.forms import DepartmentForm, PersonChoiceField, PersonMultipleChoiceField
from crm.models import User
from crm.widgets import DepartmentPickerMultiple, UserPicker, UserPickerMultiple
from customers.forms import BatchForm, CustomerImportForm, ParticipantForm
from leads.forms.leads import LeadBatchForm
from pools.forms.actions import AssignForm
from pools.forms.groups import GroupForm
from pools.models import PoolGroup
from tests.crm.test_structure import _project_form_classes
from tests.factories import make_department, make_user

OPTION = re.compile(r"<option\b[^>]*>[^<]*</option>")


def options_of(html: str) -> dict[str, str]:
    """``{value: the whole <option> tag}`` of a rendered select (the empty option left out)."""
    found = {}
    for tag in OPTION.findall(html):
        value = re.search(r'value="([^"]*)"', tag).group(1)
        if value:
            found[value] = tag
    return found


def test_every_user_field_of_every_form_is_a_picker():
    """No raw ``<select>`` of users is left: whatever form a module adds with a user field
    gets the picker, and its queryset brings the departments along."""
    raw, seen = [], set()
    for form_class in _project_form_classes():
        for name, field in form_class.base_fields.items():
            if not isinstance(field, forms.ModelChoiceField):
                continue
            if field.queryset.model is not User:
                continue
            widget = (
                UserPickerMultiple
                if isinstance(field, forms.ModelMultipleChoiceField)
                else UserPicker
            )
            seen.add(f"{form_class.__name__}.{name}")
            related = field.queryset.query.select_related
            if not isinstance(field.widget, widget) or "department" not in (related or {}):
                raw.append(f"{form_class.__module__}.{form_class.__name__}.{name}")
    assert raw == []
    # The walk saw the fields of the issue: batch participants and transfer, the participants
    # tab, pool members and admins, lead assignment, import employees, lead transfer.
    assert {
        "BatchForm.users",
        "BatchForm.to_user",
        "ParticipantForm.users",
        "GroupForm.users",
        "GroupForm.admins",
        "AssignForm.users",
        "CustomerImportForm.users",
        "LeadBatchForm.to_user",
    } <= seen


def test_batch_form_offers_the_tenants_active_users_with_their_departments(world):
    with scopes_disabled():
        gone = make_user(world.tenant_a, "gone_a", department=world.east, is_active=False)
    with scope(tenant=world.tenant_a.pk):
        form = BatchForm(tenant_id=world.tenant_a.pk)
        users_html = str(form["users"])
        owner_html = str(form["to_user"])

    assert "data-user-picker" in users_html and " multiple" in users_html
    assert "data-user-picker" in owner_html and " multiple" not in owner_html
    for html in (users_html, owner_html):
        options = options_of(html)
        assert str(world.rep_east.pk) in options
        # Only tenant A's active users: not the neighbour's, not the deactivated one.
        assert str(world.rep_b.pk) not in options and str(world.admin_b.pk) not in options
        assert str(gone.pk) not in options
        east = options[str(world.rep_east.pk)]
        assert 'data-department="华东组"' in east
        assert 'data-username="rep_east"' in east
        assert 'data-name="rep_east"' in east
        # Without JavaScript the plain select reads "name · department".
        assert east.endswith(">rep_east · 华东组</option>")


def test_a_user_without_department_shows_the_name_alone(world):
    with scopes_disabled():
        loner = make_user(world.tenant_a, "loner_a", department=None, name="独行侠")
    with scope(tenant=world.tenant_a.pk):
        html = str(ParticipantForm(tenant_id=world.tenant_a.pk)["users"])
    tag = options_of(html)[str(loner.pk)]
    assert 'data-department=""' in tag and tag.endswith(">独行侠</option>")


def _render_participants(tenant_id: int) -> tuple[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with scope(tenant=tenant_id), CaptureQueriesContext(connection) as queries:
        html = str(ParticipantForm(tenant_id=tenant_id)["users"])
    return html, len(queries)


def test_the_picker_is_one_query_however_many_users_and_departments(world):
    _html, few = _render_participants(world.tenant_a.pk)
    with scopes_disabled():
        for n in range(12):
            department = make_department(world.tenant_a, f"新部门{n}", world.sales)
            make_user(world.tenant_a, f"extra{n}", department=department)
    html, many = _render_participants(world.tenant_a.pk)
    assert len(options_of(html)) >= 12 + 6
    assert 'data-department="新部门11"' in html
    assert few == many == 1


def test_a_department_not_fetched_costs_no_query_and_shows_nothing(
    world, django_assert_num_queries
):
    """The widget never queries per option: over a queryset without the departments (a field
    that is not one of crm.forms' person fields) it shows the names alone."""
    with scope(tenant=world.tenant_a.pk):
        field = forms.ModelChoiceField(
            queryset=User.tenant_objects.filter(tenant=world.tenant_a, is_active=True),
            widget=UserPicker,
        )
        with django_assert_num_queries(1):
            html = field.widget.render("who", None, attrs={"id": "id_who"})
    assert 'data-department=""' in options_of(html)[str(world.rep_east.pk)]


def test_the_person_fields_add_the_departments_to_any_queryset(world):
    single = PersonChoiceField(queryset=User.objects.none())
    several = PersonMultipleChoiceField(queryset=User.objects.none())
    with scope(tenant=world.tenant_a.pk):
        for field in (single, several):
            field.queryset = User.tenant_objects.filter(tenant=world.tenant_a)
            assert "department" in field.queryset.query.select_related
            # A form copies its fields: the copy keeps it.
            assert "department" in field.__deepcopy__({}).queryset.query.select_related


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda w: ParticipantForm(tenant_id=w.tenant_a.pk), id="participants"),
        pytest.param(
            lambda w: AssignForm(tenant_id=w.tenant_a.pk, kind=PoolGroup.Kind.CUSTOMER),
            id="assign",
        ),
        pytest.param(lambda w: LeadBatchForm(tenant_id=w.tenant_a.pk), id="lead-transfer"),
        pytest.param(lambda w: CustomerImportForm(user=w.admin_a), id="import-employees"),
        pytest.param(lambda w: DepartmentForm(tenant_id=w.tenant_a.pk), id="department-head"),
    ],
)
def test_each_user_field_renders_the_picker_with_departments(world, build):
    with scope(tenant=world.tenant_a.pk):
        form = build(world)
        names = [
            name
            for name, field in form.fields.items()
            if isinstance(field, forms.ModelChoiceField) and field.queryset.model is User
        ]
        assert names
        for name in names:
            html = str(form[name])
            assert "data-user-picker" in html
            options = options_of(html)
            assert 'data-department="华西组"' in options[str(world.rep_west.pk)]
            assert str(world.rep_b.pk) not in options


def test_pool_group_form_pickers_keep_deactivated_members_and_pick_departments(world):
    with scopes_disabled():
        group = PoolGroup.objects.create(
            tenant=world.tenant_a, name="华东公海", kind=PoolGroup.Kind.CUSTOMER
        )
        gone = make_user(world.tenant_a, "gone_member", department=world.east, is_active=False)
        group.member_users.create(tenant=world.tenant_a, user=gone)
    with scope(tenant=world.tenant_a.pk):
        form = GroupForm(tenant_id=world.tenant_a.pk, group=group, kind=group.kind)
        users_html = str(form["users"])
        admins_html = str(form["admins"])
        departments_html = str(form["departments"])
    for html in (users_html, admins_html):
        assert "data-user-picker" in html
        options = options_of(html)
        assert str(world.rep_b.pk) not in options
    member = options_of(users_html)[str(gone.pk)]
    assert " selected" in member and 'data-department="华东组"' in member
    assert isinstance(form.fields["departments"].widget, DepartmentPickerMultiple)
    assert "data-department-picker" in departments_html
    assert "华西组" in departments_html and "销售部" in departments_html
    assert not (set(options_of(departments_html)) & {str(world.rep_b.department_id)})


def test_rule_form_turns_are_pickers_with_departments(world, login):
    from tests.leads.factories import make_rule

    rule = make_rule(world.tenant_a, [world.rep_west], "按部门")
    client = login(world.admin_a)
    html = client.get(reverse("leads:rule-edit", args=[rule.pk])).content.decode()
    turns = re.findall(r'<select name="users"[^>]*>', html)
    assert turns and all("data-user-picker" in turn for turn in turns)
    west = [t for t in OPTION.findall(html) if f'value="{world.rep_west.pk}" selected' in t]
    assert west and 'data-department="华西组"' in west[0] and "rep_west · 华西组" in west[0]
    assert f'value="{world.rep_b.pk}"' not in html


def test_deactivated_and_foreign_users_stay_out_of_the_assign_picker(world):
    with scopes_disabled():
        User.tenant_objects.filter(Q(pk=world.rep_east2.pk)).update(is_active=False)
    with scope(tenant=world.tenant_a.pk):
        html = str(AssignForm(tenant_id=world.tenant_a.pk, kind=PoolGroup.Kind.CUSTOMER)["users"])
    options = options_of(html)
    assert str(world.rep_east.pk) in options
    assert str(world.rep_east2.pk) not in options and str(world.rep_b.pk) not in options


@pytest.mark.parametrize("field_name", ["to_user", "users"])
def test_the_python_rendered_picker_is_the_django_templates_markup(world, field_name):
    """The pickers write their options in Python (crm.widgets._PythonRenderedSelect, a
    speed-up for selects of every user): byte for byte what Django's select templates give,
    with a selected option, an option group and text needing escapes."""
    from django.forms.widgets import Select, SelectMultiple

    with scopes_disabled():
        odd = make_user(world.tenant_a, "odd_a", department=world.east)
        User.objects.filter(pk=odd.pk).update(first_name='A "&" <B>', username='odd<B>&"')
    with scope(tenant=world.tenant_a.pk):
        widget = BatchForm(tenant_id=world.tenant_a.pk).fields[field_name].widget
        widget.choices = [*widget.choices, ("Group <1>", [("x", "X & Y")])]
        multiple = isinstance(widget, UserPickerMultiple)
        value = [odd.pk] if multiple else odd.pk
        fast = widget.render("who", value, attrs={"id": "id_who"})
        base = SelectMultiple if multiple else Select
        context = widget.get_context("who", value, {"id": "id_who"})
        slow = base._render(widget, widget.template_name, context)
    assert isinstance(widget, UserPicker | UserPickerMultiple)
    assert "selected" in fast and "&lt;B&gt;" in fast and "<optgroup" in fast
    assert fast.count("<option") > 3
    assert fast == slow
