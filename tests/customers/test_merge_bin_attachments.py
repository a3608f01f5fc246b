"""Recycle bin (trash, restore, purge), merge, attachments and saved searches: what the
services do and every refusal, asserted by its exact code."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_scopes import scopes_disabled

from crm.exceptions import NotFoundError, PermissionRefusedError, ServiceError
from crm.models import ActivityLog, DataScope
from customers import activity_actions as actions
from customers import hooks, selectors, services
from customers.models import (
    Attachment,
    Contact,
    Customer,
    CustomerParticipant,
    CustomerStar,
    FollowUp,
    OwnershipEvent,
    SavedSearch,
)
from tests.customers.factories import (
    events,
    exists,
    fresh,
    logs,
    make_contact,
    make_customer,
    make_followup,
    make_participant,
    make_star,
    make_tag,
    tag_customer,
)
from tests.factories import make_role, make_user

DAY = datetime.timedelta(days=1)
CHANGE = "customers.change_customer"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def delete_check():
    """``delete_check(func)`` registers a temporary hooks.register_delete_check check."""
    added = []

    def register(func):
        hooks.register_delete_check(func)
        added.append(func)
        return func

    try:
        yield register
    finally:
        for func in added:
            hooks._DELETE_CHECKS.remove(func)


def _upload(name="报价单.pdf", content=b"%PDF-1.4 test", content_type="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def _add_file(actor, customer, name="报价单.pdf", **kwargs):
    return services.attachment_add(actor=actor, record=customer, upload=_upload(name), **kwargs)


def _file_path(attachment) -> Path:
    return Path(fresh(attachment).file.path)


def _view_pks(actor, view):
    return set(selectors.customer_base(actor=actor, view=view).values_list("pk", flat=True))


def _deleter(world):
    """A rep (own scope) who may delete customers."""
    role = make_role(world.tenant_a, "删除专员", DataScope.OWN, ["customer.delete"])
    return make_user(world.tenant_a, "rep_deleter", role=role, department=world.east)


# ---------------------------------------------------------------- customer_trash


def test_customer_trash_moves_to_bin_with_event_and_activity(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.admin_a):
        found = services.customer_trash(actor=world.admin_a, customers=[customer.pk])
    assert [c.pk for c in found] == [customer.pk]
    row = fresh(customer)
    assert row.deleted_at is not None
    assert row.deleted_by_id == world.admin_a.pk
    assert row.owner_id == world.rep_east.pk
    [event] = events(customer, OwnershipEvent.Kind.DELETED)
    assert (event.from_user_id, event.to_user_id, event.actor_id) == (
        world.rep_east.pk,
        None,
        world.admin_a.pk,
    )
    assert [e.action for e in logs(customer)] == [actions.CUSTOMER_TRASHED]


def _everywhere(world):
    """A customer that shows in every list view of its owner rep_east (and team/all views
    of the managers), plus an unassigned one only the administrator sees."""
    rich = make_customer(
        world.tenant_a,
        world.rep_east,
        "到处都有",
        next_followup_at=timezone.now(),
        last_followup_at=timezone.now() - 10 * DAY,
    )
    make_star(rich, world.rep_east)
    make_star(rich, world.admin_a)
    make_participant(rich, world.rep_west)
    pool = make_customer(world.tenant_a, None, "无人负责")
    return rich, pool


def test_customer_trash_removes_from_every_list_view_but_the_bin(world, scoped):
    rich, pool = _everywhere(world)
    personas = ("rep_east", "rep_west", "manager_sales", "admin_a")
    before = {}
    for key in personas:
        user = getattr(world, key)
        with scoped(user):
            before[key] = {view: _view_pks(user, view) for view, _label in selectors.VIEWS}
    # Sanity: the customers were somewhere in each view before.
    assert all(rich.pk in before["rep_east"][v] for v in ("mine", "today", "starred", "stale"))
    assert rich.pk in before["rep_west"]["participated"]
    assert rich.pk in before["manager_sales"]["team"]
    assert pool.pk in before["admin_a"]["unassigned"]

    with scoped(world.admin_a):
        services.customer_trash(actor=world.admin_a, customers=[rich, pool])

    for key in personas:
        user = getattr(world, key)
        with scoped(user):
            for view, _label in selectors.VIEWS:
                assert not _view_pks(user, view) & {rich.pk, pool.pk}, (key, view)
    with scoped(world.admin_a):
        assert _view_pks(world.admin_a, "bin") == {rich.pk, pool.pk}
    with scoped(world.rep_east):
        assert _view_pks(world.rep_east, "bin") == {rich.pk}
    with scoped(world.rep_west):
        assert _view_pks(world.rep_west, "bin") == {rich.pk}
    with scoped(world.manager_sales):
        assert _view_pks(world.manager_sales, "bin") == {rich.pk}


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales"])
def test_customer_trash_refused_without_delete_permission(world, scoped, persona):
    actor = getattr(world, persona)
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(actor), pytest.raises(PermissionRefusedError) as exc:
        services.customer_trash(actor=actor, customers=[customer])
    assert exc.value.code == "permission"
    assert fresh(customer).deleted_at is None


def test_customer_trash_refused_as_a_whole_when_a_check_protects_one(world, scoped, delete_check):
    free = make_customer(world.tenant_a, world.rep_east, "可删")
    kept = make_customer(world.tenant_a, world.rep_east, "有合同")
    delete_check(lambda c: "有未完成的合同" if c.pk == kept.pk else None)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_trash(actor=world.admin_a, customers=[free, kept])
    assert exc.value.code == "protected"
    assert "有合同" in str(exc.value.message)
    assert "有未完成的合同" in str(exc.value.message)
    assert fresh(free).deleted_at is None
    assert fresh(kept).deleted_at is None
    assert events(free) == []


def test_customer_trash_refused_for_customer_outside_the_scope(world, scoped):
    deleter = _deleter(world)
    mine = make_customer(world.tenant_a, deleter, "自己的")
    theirs = make_customer(world.tenant_a, world.rep_east, "别人的")
    with scoped(deleter), pytest.raises(ServiceError) as exc:
        services.customer_trash(actor=deleter, customers=[mine, theirs])
    assert exc.value.code == "not_visible"
    assert fresh(mine).deleted_at is None


def test_customer_trash_refused_for_locked_customer_of_someone_else(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", is_locked=True)
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_trash(actor=world.admin_a, customers=[customer])
    assert exc.value.code == "not_editable"
    assert fresh(customer).deleted_at is None


def test_customer_trash_refused_for_customer_already_in_bin(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", deleted_at=timezone.now())
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_trash(actor=world.admin_a, customers=[customer])
    assert exc.value.code == "not_visible"


# ---------------------------------------------------------------- customer_restore


def test_customer_restore_brings_customer_back_to_the_lists(world, scoped):
    rich, _pool = _everywhere(world)
    with scoped(world.admin_a):
        services.customer_trash(actor=world.admin_a, customers=[rich])
        found = services.customer_restore(actor=world.admin_a, customers=[rich.pk])
        assert [c.pk for c in found] == [rich.pk]
        assert _view_pks(world.admin_a, "bin") == set()
    row = fresh(rich)
    assert (row.deleted_at, row.deleted_by_id) == (None, None)
    [event] = events(rich, OwnershipEvent.Kind.RESTORED)
    assert (event.to_user_id, event.actor_id) == (world.rep_east.pk, world.admin_a.pk)
    assert [e.action for e in logs(rich)] == [actions.CUSTOMER_RESTORED, actions.CUSTOMER_TRASHED]
    with scoped(world.rep_east):
        for view in ("mine", "today", "starred", "stale", "all"):
            assert rich.pk in _view_pks(world.rep_east, view), view
    with scoped(world.rep_west):
        assert rich.pk in _view_pks(world.rep_west, "participated")


def test_customer_restore_refused_without_delete_permission(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", deleted_at=timezone.now())
    with scoped(world.rep_east), pytest.raises(PermissionRefusedError) as exc:
        services.customer_restore(actor=world.rep_east, customers=[customer])
    assert exc.value.code == "permission"
    assert fresh(customer).deleted_at is not None


def test_customer_restore_refused_for_customer_not_in_bin(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_restore(actor=world.admin_a, customers=[customer])
    assert exc.value.code == "not_visible"


def test_customer_restore_refused_for_customer_outside_the_scope(world, scoped):
    deleter = _deleter(world)
    theirs = make_customer(world.tenant_a, world.rep_east, "别人的", deleted_at=timezone.now())
    with scoped(deleter), pytest.raises(ServiceError) as exc:
        services.customer_restore(actor=deleter, customers=[theirs])
    assert exc.value.code == "not_visible"
    assert fresh(theirs).deleted_at is not None


# ---------------------------------------------------------------- customer_purge


def test_customer_purge_deletes_rows_and_files(
    world, scoped, media, django_capture_on_commit_callbacks
):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer, "张经理")
    followup = make_followup(customer, world.rep_east)
    with scoped(world.rep_east):
        attachment = _add_file(world.rep_east, customer)
    path = _file_path(attachment)
    assert path.exists()
    with scopes_disabled():
        Customer.objects.filter(pk=customer.pk).update(deleted_at=timezone.now())
    with scoped(world.admin_a), django_capture_on_commit_callbacks(execute=True):
        assert services.customer_purge(actor=world.admin_a, customers=[customer]) == 1
    for obj in (customer, contact, followup, attachment):
        assert not exists(obj), obj
    assert not path.exists()
    with scopes_disabled():
        # The activity log keeps the record of what was deleted.
        assert ActivityLog.objects.filter(
            content_type=ContentType.objects.get_for_model(Customer),
            object_id=customer.pk,
            action=actions.CUSTOMER_PURGED,
        ).exists()


def test_customer_purge_refused_without_delete_permission(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲", deleted_at=timezone.now())
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError) as exc:
        services.customer_purge(actor=world.manager_sales, customers=[customer])
    assert exc.value.code == "permission"
    assert exists(customer)


def test_customer_purge_refused_for_customer_not_in_bin(world, scoped):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_purge(actor=world.admin_a, customers=[customer])
    assert exc.value.code == "not_visible"
    assert exists(customer)


def test_customer_purge_refused_as_a_whole_keeping_rows_and_files(
    world, scoped, media, delete_check, django_capture_on_commit_callbacks
):
    free = make_customer(world.tenant_a, world.rep_east, "可删")
    kept = make_customer(world.tenant_a, world.rep_east, "有回款")
    with scoped(world.rep_east):
        attachment = _add_file(world.rep_east, free)
    with scopes_disabled():
        Customer.objects.filter(pk__in=[free.pk, kept.pk]).update(deleted_at=timezone.now())
    delete_check(lambda c: "有应收款" if c.pk == kept.pk else None)
    with (
        scoped(world.admin_a),
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ServiceError) as exc,
    ):
        services.customer_purge(actor=world.admin_a, customers=[free, kept])
    assert exc.value.code == "protected"
    assert "有回款: 有应收款" in str(exc.value.message)
    assert exists(free)
    assert exists(kept)
    assert exists(attachment)
    assert _file_path(attachment).exists()


# ---------------------------------------------------------------- customer_merge


@pytest.fixture
def merge_case(world):
    """keep (rep_east) and two others with every kind of related row."""
    now = timezone.now()
    keep = make_customer(world.tenant_a, world.rep_east, "保留客户", created_at=now - DAY)
    first = make_customer(
        world.tenant_a,
        world.rep_east,
        "重复一",
        created_at=now - 30 * DAY,
        last_followup_at=now - 2 * DAY,
    )
    second = make_customer(world.tenant_a, world.rep_east2, "重复二", created_at=now - 5 * DAY)
    with scopes_disabled():
        Customer.objects.filter(pk=keep.pk).update(last_followup_at=now - 9 * DAY)
    tag_keep, tag_first, tag_both = (make_tag(world.tenant_a, n) for n in ("留", "一", "共"))
    tag_customer(keep, tag_keep, tag_both)
    tag_customer(first, tag_first, tag_both)
    make_participant(keep, world.service_a)
    make_participant(first, world.rep_west, can_edit=True)
    make_participant(first, world.service_a)
    make_participant(second, world.rep_east)  # keep's owner: not a participant of keep
    make_star(keep, world.manager_sales)
    make_star(first, world.manager_sales)
    make_star(second, world.admin_a)
    rows = {
        "contact": make_contact(first, "一的联系人"),
        "contact2": make_contact(second, "二的联系人"),
        "followup": make_followup(first, world.rep_east, "一的跟进"),
        "followup2": make_followup(second, world.rep_east2, "二的跟进"),
    }
    with scopes_disabled():
        for customer in (first, second):
            OwnershipEvent.objects.create(
                tenant_id=customer.tenant_id,
                customer=customer,
                kind=OwnershipEvent.Kind.CREATED,
                to_user=customer.owner,
            )
            ActivityLog.objects.create(
                tenant_id=customer.tenant_id,
                actor=customer.owner,
                content_type=ContentType.objects.get_for_model(Customer),
                object_id=customer.pk,
                object_repr=customer.name,
                action=actions.CUSTOMER_CREATED,
            )
    return keep, first, second, rows, (tag_keep, tag_first, tag_both)


@pytest.fixture
def merge_rights(world):
    """Merging deletes the other customers: it takes ``customer.delete``. Give it to the
    sales roles for the merge tests (admin_a has it already)."""
    from crm.models import Role

    for role in Role.objects.filter(
        tenant=world.tenant_a, builtin__in=["sales_manager", "sales_rep"]
    ):
        role.permissions = [*role.permissions, "customer.delete"]
        role.save()
    for user in (world.manager_sales, world.rep_east):
        user.refresh_from_db()
        user.__dict__.pop("permission_codes", None)


def test_customer_merge_refused_without_the_delete_permission(world, scoped, merge_case):
    keep, first, _second, _rows, _tags = merge_case
    with scoped(world.manager_sales), pytest.raises(PermissionRefusedError):
        services.customer_merge(actor=world.manager_sales, keep=keep, others=[first])
    assert exists(first)


@pytest.mark.usefixtures("merge_rights")
def test_customer_merge_moves_everything_to_the_kept_customer(world, scoped, media, merge_case):
    keep, first, second, rows, tags = merge_case
    with scoped(world.rep_east):
        attachment = _add_file(world.rep_east, first)
    with scoped(world.manager_sales):
        merged = services.customer_merge(
            actor=world.manager_sales, keep=keep, others=[first, second.pk]
        )
    assert merged.pk == keep.pk
    assert not exists(first)
    assert not exists(second)
    for key in ("contact", "contact2", "followup", "followup2"):
        assert fresh(rows[key]).customer_id == keep.pk, key
    assert fresh(attachment).customer_id == keep.pk
    assert _file_path(attachment).exists()
    with scoped(world.manager_sales):
        assert set(
            CustomerParticipant.objects.filter(customer=keep).values_list("user_id", flat=True)
        ) == {world.service_a.pk, world.rep_west.pk}
        assert sorted(keep.tags.values_list("pk", flat=True)) == sorted(t.pk for t in tags)
        assert set(
            CustomerStar.objects.filter(customer=keep).values_list("user_id", flat=True)
        ) == {world.manager_sales.pk, world.admin_a.pk}
        assert CustomerStar.objects.filter(customer=keep).count() == 2
    with scoped(world.rep_west):
        assert world.rep_west.has_perm(CHANGE, keep)
    with scoped(world.service_a):
        assert not world.service_a.has_perm(CHANGE, keep)
    assert [e.to_user_id for e in events(keep, OwnershipEvent.Kind.CREATED)] == [
        world.rep_east.pk,
        world.rep_east2.pk,
    ]
    actions_on_keep = [e.action for e in logs(keep)]
    assert actions_on_keep.count(actions.CUSTOMER_CREATED) == 2
    [entry] = logs(keep, actions.CUSTOMER_MERGED)
    assert entry.changes == {"merged": ["", "重复一、重复二"]}
    assert entry.actor_id == world.manager_sales.pk


@pytest.mark.usefixtures("merge_rights")
def test_customer_merge_keeps_the_earliest_creation_and_latest_follow_up(world, scoped, merge_case):
    keep, first, second, _rows, _tags = merge_case
    earliest = fresh(first).created_at
    latest = fresh(first).last_followup_at
    with scoped(world.manager_sales):
        merged = services.customer_merge(
            actor=world.manager_sales, keep=keep, others=[first, second]
        )
    row = fresh(keep)
    assert row.created_at == earliest == merged.created_at
    assert row.last_followup_at == latest
    assert (row.name, row.owner_id) == ("保留客户", world.rep_east.pk)
    assert row.updated_by_id == world.manager_sales.pk


@pytest.mark.usefixtures("merge_rights")
def test_customer_merge_refused_for_invisible_customer(world, scoped):
    keep = make_customer(world.tenant_a, world.rep_east, "保留")
    mine = make_customer(world.tenant_a, world.rep_east, "我的重复")
    theirs = make_customer(world.tenant_a, world.rep_west, "他的重复")
    make_contact(theirs, "他的联系人")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_merge(actor=world.rep_east, keep=keep, others=[mine, theirs])
    assert exc.value.code == "not_visible"
    assert exists(mine)
    assert exists(theirs)
    with scopes_disabled():
        assert Contact.objects.filter(customer=theirs).count() == 1


@pytest.mark.usefixtures("merge_rights")
def test_customer_merge_refused_for_keep_of_other_tenant(world, scoped):
    foreign = make_customer(world.tenant_b, world.rep_b, "乙方")
    mine = make_customer(world.tenant_a, world.admin_a, "甲方")
    with scoped(world.admin_a), pytest.raises(ServiceError) as exc:
        services.customer_merge(actor=world.admin_a, keep=foreign, others=[mine])
    assert exc.value.code == "not_visible"
    assert exists(mine)


@pytest.mark.parametrize("others", ["none", "keep"])
@pytest.mark.usefixtures("merge_rights")
def test_customer_merge_refused_without_other_customers(world, scoped, others):
    keep = make_customer(world.tenant_a, world.rep_east, "保留")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_merge(
            actor=world.rep_east, keep=keep, others=[] if others == "none" else [keep.pk]
        )
    assert exc.value.code == "empty"


@pytest.mark.usefixtures("merge_rights")
def test_customer_merge_refused_for_locked_customer_of_someone_else(world, scoped):
    keep = make_customer(world.tenant_a, world.rep_east, "保留")
    locked = make_customer(world.tenant_a, world.rep_east2, "锁定", is_locked=True)
    with scoped(world.manager_sales), pytest.raises(ServiceError) as exc:
        services.customer_merge(actor=world.manager_sales, keep=keep, others=[locked])
    assert exc.value.code == "not_editable"
    assert exists(locked)


@pytest.mark.usefixtures("merge_rights")
def test_customer_merge_refused_when_a_check_protects_a_merged_customer(
    world, scoped, delete_check
):
    keep = make_customer(world.tenant_a, world.rep_east, "保留")
    other = make_customer(world.tenant_a, world.rep_east, "有订单")
    contact = make_contact(other, "联系人")
    delete_check(lambda c: "有订单" if c.pk == other.pk else None)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.customer_merge(actor=world.rep_east, keep=keep, others=[other])
    assert exc.value.code == "protected"
    assert exists(other)
    assert fresh(contact).customer_id == other.pk


# ---------------------------------------------------------------- attachment_add


def test_attachment_add_stores_file_under_tenant_and_customer(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    followup = make_followup(customer, world.rep_east)
    with scoped(world.rep_east):
        attachment = services.attachment_add(
            actor=world.rep_east,
            record=customer,
            upload=_upload("../../报价单.PDF"),
            followup=followup,
        )
    row = fresh(attachment)
    assert row.original_name == "报价单.PDF"
    assert row.size == len(b"%PDF-1.4 test")
    assert row.content_type == "application/pdf"
    assert row.uploaded_by_id == world.rep_east.pk
    assert row.followup_id == followup.pk
    assert row.tenant_id == world.tenant_a.pk
    assert row.file.name.startswith(f"tenants/{world.tenant_a.pk}/customers/{customer.pk}/")
    path = Path(row.file.path)
    assert path.is_relative_to(media)
    assert path.read_bytes() == b"%PDF-1.4 test"
    [entry] = logs(customer, actions.ATTACHMENT_ADDED)
    assert entry.changes == {"file": ["", "报价单.PDF"]}


@pytest.mark.parametrize("name", ["setup.exe", "script.js", "no_extension", "page.html"])
def test_attachment_add_refused_for_file_type(world, scoped, media, name):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        _add_file(world.rep_east, customer, name)
    assert exc.value.code == "type"
    assert not any(media.rglob("*.*"))


def test_attachment_add_refused_for_empty_file(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.attachment_add(
            actor=world.rep_east, record=customer, upload=_upload("空.txt", b"")
        )
    assert exc.value.code == "empty"


def test_attachment_add_refused_over_100_mb(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    upload = _upload("大文件.zip")
    upload.size = 100 * 1024 * 1024 + 1
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.attachment_add(actor=world.rep_east, record=customer, upload=upload)
    assert exc.value.code == "too_large"
    assert not any(media.rglob("*.zip"))


def test_attachment_add_accepts_exactly_100_mb(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    upload = _upload("刚好.zip")
    upload.size = 100 * 1024 * 1024
    with scoped(world.rep_east):
        attachment = services.attachment_add(actor=world.rep_east, record=customer, upload=upload)
    assert fresh(attachment).size == 100 * 1024 * 1024


def test_attachment_add_refused_for_eleventh_file(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east):
        for i in range(10):
            _add_file(world.rep_east, customer, f"文件{i}.pdf")
        with pytest.raises(ServiceError) as exc:
            _add_file(world.rep_east, customer, "第十一个.pdf")
        assert exc.value.code == "too_many"
        assert Attachment.objects.filter(customer=customer).count() == 10


def test_attachment_add_refused_for_follow_up_of_another_customer(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    elsewhere = make_followup(make_customer(world.tenant_a, world.rep_east, "乙"), world.rep_east)
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        _add_file(world.rep_east, customer, followup=elsewhere)
    assert exc.value.code == "followup"


def test_attachment_add_by_read_only_participant(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    make_participant(customer, world.rep_west)
    with scoped(world.rep_west):
        attachment = _add_file(world.rep_west, customer)
    assert fresh(attachment).uploaded_by_id == world.rep_west.pk


def test_attachment_add_refused_for_member_who_only_sees_a_public_customer(world, scoped, media):
    customer = make_customer(
        world.tenant_a, world.rep_east, "公开", visibility=Customer.Visibility.PUBLIC
    )
    with scoped(world.rep_west), pytest.raises(PermissionRefusedError):
        _add_file(world.rep_west, customer)


def test_attachment_add_refused_for_invisible_customer(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_west), pytest.raises(ServiceError) as exc:
        _add_file(world.rep_west, customer)
    assert exc.value.code == "not_visible"


# ---------------------------------------------------------------- attachment_delete


def test_attachment_delete_removes_row_and_file_after_commit(
    world, scoped, media, django_capture_on_commit_callbacks
):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    with scoped(world.rep_east):
        attachment = _add_file(world.rep_east, customer)
    path = _file_path(attachment)
    with scoped(world.manager_sales), django_capture_on_commit_callbacks(execute=True):
        services.attachment_delete(actor=world.manager_sales, attachment=attachment)
    assert not exists(attachment)
    assert not path.exists()
    [entry] = logs(customer, actions.ATTACHMENT_DELETED)
    assert entry.changes == {"file": ["报价单.pdf", ""]}


def test_attachment_delete_refused_for_read_only_participant(world, scoped, media):
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    make_participant(customer, world.rep_west)
    with scoped(world.rep_west):
        attachment = _add_file(world.rep_west, customer)
        with pytest.raises(ServiceError) as exc:
            services.attachment_delete(actor=world.rep_west, attachment=attachment)
    assert exc.value.code == "not_editable"
    assert exists(attachment)
    assert _file_path(attachment).exists()


def test_attachment_delete_refused_for_attachment_of_other_tenant(world, scoped, media):
    foreign_customer = make_customer(world.tenant_b, world.rep_b, "乙方")
    with scoped(world.rep_b):
        attachment = _add_file(world.rep_b, foreign_customer)
    with scoped(world.admin_a), pytest.raises(NotFoundError) as exc:
        services.attachment_delete(actor=world.admin_a, attachment=attachment)
    assert exc.value.code == "not_found"
    assert exists(attachment)


# ---------------------------------------------------------------- saved searches


def test_saved_search_create_strips_name_and_question_mark(world, scoped):
    with scoped(world.rep_east):
        search = services.saved_search_create(
            actor=world.rep_east, name="  本周重点  ", query="?view=mine&tag=3"
        )
        assert list(selectors.saved_searches(actor=world.rep_east)) == [search]
    row = fresh(search)
    assert (row.name, row.query) == ("本周重点", "view=mine&tag=3")
    assert (row.user_id, row.tenant_id) == (world.rep_east.pk, world.tenant_a.pk)


def test_saved_search_create_same_name_for_another_user(world, scoped):
    with scoped(world.rep_east):
        services.saved_search_create(actor=world.rep_east, name="重点", query="a=1")
        services.saved_search_create(actor=world.rep_west, name="重点", query="a=2")
        assert [s.query for s in selectors.saved_searches(actor=world.rep_west)] == ["a=2"]


def test_saved_search_create_refused_for_duplicate_name(world, scoped):
    with scoped(world.rep_east):
        services.saved_search_create(actor=world.rep_east, name="重点", query="a=1")
        with pytest.raises(ServiceError) as exc:
            services.saved_search_create(actor=world.rep_east, name=" 重点 ", query="a=2")
        assert exc.value.code == "duplicate"
        assert SavedSearch.objects.count() == 1


@pytest.mark.parametrize("name", ["", "   ", None])
def test_saved_search_create_refused_without_name(world, scoped, name):
    with scoped(world.rep_east), pytest.raises(ServiceError) as exc:
        services.saved_search_create(actor=world.rep_east, name=name, query="a=1")
    assert exc.value.code == "required"


def test_saved_search_delete_by_its_owner(world, scoped):
    with scoped(world.rep_east):
        search = services.saved_search_create(actor=world.rep_east, name="重点", query="a=1")
        services.saved_search_delete(actor=world.rep_east, search=search)
    assert not exists(search)


@pytest.mark.parametrize("persona", ["rep_west", "admin_a", "admin_b"])
def test_saved_search_delete_refused_for_anyone_else(world, scoped, persona):
    with scoped(world.rep_east):
        search = services.saved_search_create(actor=world.rep_east, name="重点", query="a=1")
    actor = getattr(world, persona)
    with scoped(actor), pytest.raises(ServiceError) as exc:
        services.saved_search_delete(actor=actor, search=search)
    assert exc.value.code == "not_found"
    assert exists(search)


def test_followup_and_contact_models_cascade_only_with_purge(world, scoped):
    """Trash is a soft delete: nothing below the customer goes away."""
    customer = make_customer(world.tenant_a, world.rep_east, "甲")
    contact = make_contact(customer)
    followup = make_followup(customer, world.rep_east)
    with scoped(world.admin_a):
        services.customer_trash(actor=world.admin_a, customers=[customer])
    assert exists(contact)
    assert exists(followup)
    with scopes_disabled():
        assert FollowUp.objects.filter(customer=customer).count() == 1
