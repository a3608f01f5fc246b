"""The activity log: one service records who did what, with changes; nothing edits or
deletes an entry."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from crm import activity
from crm.models import ActivityLog
from crm.tenancy import tenant_scope


def test_record_stores_actor_target_action_and_changes(world):
    with tenant_scope(world.tenant_a.pk):
        entry = activity.activity_record(
            actor=world.admin_a,
            target=world.east,
            action=activity.DEPARTMENT_RENAMED,
            changes={"name": ["华东", "华东组"]},
            note="reorganisation",
        )
        entry = ActivityLog.objects.get(pk=entry.pk)
    assert entry.tenant_id == world.tenant_a.pk
    assert entry.actor == world.admin_a
    assert entry.content_type.model_class() is type(world.east)
    assert entry.object_id == world.east.pk
    assert entry.object_repr == "华东组"
    assert entry.changes == {"name": ["华东", "华东组"]}
    assert entry.note == "reorganisation"


def test_secrets_are_masked(world):
    with tenant_scope(world.tenant_a.pk):
        entry = activity.activity_record(
            actor=world.admin_a,
            target=world.rep_east,
            action=activity.USER_UPDATED,
            changes={"password": ["old", "new"], "api_key": ["a", "b"], "name": ["x", "y"]},
        )
    assert entry.changes == {
        "password": ["***", "***"],
        "api_key": ["***", "***"],
        "name": ["x", "y"],
    }


def test_unregistered_actions_are_refused(world):
    with tenant_scope(world.tenant_a.pk), pytest.raises(ValueError):
        activity.activity_record(actor=world.admin_a, target=world.east, action="nope")


def test_entries_cannot_be_changed_or_deleted(world):
    with tenant_scope(world.tenant_a.pk):
        entry = activity.activity_record(
            actor=world.admin_a, target=world.east, action=activity.DEPARTMENT_CREATED
        )
        entry.note = "tampered"
        with pytest.raises(TypeError):
            entry.save()
        with pytest.raises(TypeError):
            entry.delete()
        with pytest.raises(TypeError):
            ActivityLog.objects.filter(pk=entry.pk).delete()
        assert ActivityLog.objects.get(pk=entry.pk).note == ""


def test_entries_are_tenant_scoped(world):
    with tenant_scope(world.tenant_b.pk):
        activity.activity_record(
            actor=world.admin_b, target=world.rep_b, action=activity.USER_UPDATED
        )
    with tenant_scope(world.tenant_a.pk):
        assert not ActivityLog.objects.filter(actor=world.admin_b).exists()


def test_diff_keeps_only_changed_fields():
    assert activity.diff({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == {
        "b": ["2", "3"],
        "c": ["", "4"],
    }


def test_snapshot_reads_values_as_people_do(world):
    from django.utils import translation

    with translation.override("en"):
        snap = activity.snapshot(world.rep_east, ["department", "manager", "is_active", "email"])
    assert snap == {
        "department": "华东组",
        "manager": "manager_sales",
        "is_active": "Yes",
        "email": "",
    }


def test_timeline_renders_labels_and_changes_escaped(world):
    with tenant_scope(world.tenant_a.pk):
        activity.activity_record(
            actor=world.admin_a,
            target=world.rep_east,
            action=activity.USER_UPDATED,
            changes={"name": ["<b>old</b>", "new"]},
        )
        entries = list(ActivityLog.objects.for_object(world.rep_east))
        html = render_to_string("components/activity_timeline.html", {"entries": entries})
    assert "admin_a" in html
    assert "&lt;b&gt;old&lt;/b&gt;" in html
    assert "<b>old</b>" not in html
