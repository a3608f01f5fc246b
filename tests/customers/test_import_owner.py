"""Importing by the file's owner column (issue 17 point 3, 按文件中的负责人列): each row's
owner found by username, mobile or full name among the tenant's users; unknown, ambiguous,
deactivated and out-of-scope owners rejected row by row with the reason; one notification
per owner and import; the holding limit counted per owner; nothing written on refusal."""

from __future__ import annotations

import pytest
from django.utils import translation
from django_scopes import scopes_disabled

from crm import importing
from crm.exceptions import ServiceError
from crm.models import DataScope, ImportJob, Notification
from crm.tenancy import tenant_scope
from customers.forms import CustomerImportForm
from customers.importing import CustomerImporter
from customers.models import Customer, OwnershipEvent
from pools.services import default_group_for
from tests.customers.test_import import confirm, customers, sheet, start
from tests.factories import make_role, make_user
from tests.pools.factories import set_rules

HEADERS = ["客户名称", "手机", "负责人"]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _scope(world):
    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        yield


@pytest.fixture
def manager(world):
    """manager_sales imports customers with the scope of the sales department and below
    (华东组, 华西组), which leaves out 总经办 (admin_a) and 售后部 (service_a)."""
    role = make_role(
        world.tenant_a, "销售经理导入", DataScope.DEPARTMENT_AND_BELOW, ["customer.import"]
    )
    with scopes_disabled():
        world.manager_sales.role = role
        world.manager_sales.save(update_fields=["role"])
    return world.manager_sales


def by_owner(actor, rows, headers=HEADERS, **options) -> ImportJob:
    return start(actor, sheet(rows, headers=headers), target="owner", **options)


def notifications(user) -> list[Notification]:
    with scopes_disabled():
        return list(Notification.objects.filter(recipient=user).order_by("pk"))


def test_owners_are_found_by_username_mobile_or_full_name(world, manager):
    with scopes_disabled():
        world.rep_west.name = "西区 小王"
        world.rep_west.save(update_fields=["name"])
    rows = [
        ["甲公司", "", "REP_EAST"],  # username, any case
        ["乙公司", "", "137 0000 0003"],  # rep_east's mobile
        ["丙公司", "", "西区小王"],  # full name, spaces folded
        ["丁公司", "", "rep_east2"],
    ]
    job = by_owner(manager, rows)
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    assert (job.summary["create"], job.summary["reject"]) == (4, 0)
    job = confirm(manager, job)
    owners = {c.name: c.owner_id for c in customers(world.tenant_a)}
    assert owners == {
        "甲公司": world.rep_east.pk,
        "乙公司": world.rep_east.pk,
        "丙公司": world.rep_west.pk,
        "丁公司": world.rep_east2.pk,
    }
    made = customers(world.tenant_a)
    assert all(c.pooled_at is None and c.owned_since for c in made)
    with scopes_disabled():
        events = {(e.customer_id, e.to_user_id) for e in OwnershipEvent.objects.all()}
    assert events == {(c.pk, c.owner_id) for c in made}


def test_unknown_ambiguous_inactive_and_out_of_scope_owners_are_rejected_row_by_row(world, manager):
    make_user(world.tenant_a, "zhangwei1", name="张伟", department=world.east)
    make_user(world.tenant_a, "zhangwei2", name="张伟", department=world.west)
    make_user(world.tenant_a, "gone", name="离职的人", department=world.east, is_active=False)
    make_user(world.tenant_b, "other_tenant", name="乙公司的人")
    rows = [
        ["甲公司", "", "不存在的人"],
        ["乙公司", "", "张伟"],
        ["丙公司", "", "离职的人"],
        ["丁公司", "", "service_a"],  # 售后部: outside the manager's scope
        ["戊公司", "", "乙公司的人"],  # another tenant's user is nobody here
        ["己公司", "", ""],
        ["庚公司", "", "zhangwei2"],  # the username settles it
    ]
    job = by_owner(manager, rows)
    assert (job.summary["create"], job.summary["reject"]) == (1, 6)
    reasons = dict(job.summary["rejected_preview"])
    assert "not a user of the company" in reasons[2]
    assert "several users are called" in reasons[3]
    assert "zhangwei1" in reasons[3] and "zhangwei2" in reasons[3]
    assert "deactivated" in reasons[4]
    assert "outside your data scope" in reasons[5]
    assert "not a user of the company" in reasons[6]
    assert "missing" in reasons[7]
    assert customers(world.tenant_a) == []  # the check writes nothing
    confirm(manager, job)
    ((made,),) = [customers(world.tenant_a)]
    assert made.name == "庚公司" and made.owner.username == "zhangwei2"


def test_the_owner_target_needs_an_owner_column(world):
    """Without an owner column the mapping step asks for one (the file is not refused): a
    column of the file can be chosen as the owner, then the rows are checked."""
    from crm import importing

    rows = [["甲公司", "13800138000", "rep_east"]]
    job = by_owner(world.admin_a, rows, headers=["客户名称", "手机", "跟进人"])
    assert job.status == ImportJob.Status.PREVIEWED
    assert "Owner" in job.message and job.summary["mapping_errors"]
    assert not job.plan
    assert customers(world.tenant_a) == []
    # Confirming is refused until the mapping gives the owner a column.
    with pytest.raises(ServiceError):
        importing.import_confirm(actor=world.admin_a, job=job)
    # Leaving it out again is refused in words; choosing 跟进人 checks the rows.
    with pytest.raises(ServiceError, match="Owner"):
        importing.import_remap(
            actor=world.admin_a,
            job=job,
            mapping={"0": "name", "1": "contact_mobile"},
            add_options=False,
        )
    job = importing.import_remap(
        actor=world.admin_a,
        job=job,
        mapping={"0": "name", "1": "contact_mobile", "2": "owner"},
        add_options=False,
    )
    assert job.status == ImportJob.Status.PREVIEWED and not job.summary.get("mapping_errors")
    assert job.summary["create"] == 1


def test_each_owner_gets_one_notification_per_import(world, settings, monkeypatch):
    settings.IMPORT_SYNC_ROWS = 10**9
    rows = [[f"客户{i}", "", ["rep_east", "rep_west", "admin_a"][i % 3]] for i in range(30)]
    # Small batches: the owners' rows are spread over many of them.
    monkeypatch.setattr(CustomerImporter, "batch_size", 4)
    job = confirm(world.admin_a, by_owner(world.admin_a, rows))
    assert job.status == ImportJob.Status.DONE and job.summary["created"] == 30
    for user in (world.rep_east, world.rep_west):
        (note,) = notifications(user)
        assert "admin_a" in note.title and "客户名单.xlsx" in note.title
        assert note.link == f"/customers/?view=all&import_job={job.pk}"
    # The importer is told once, by the finished import, not as an owner.
    (note,) = notifications(world.admin_a)
    assert "finished" in note.title
    assert sorted(job.summary["notified_owners"]) == sorted([world.rep_east.pk, world.rep_west.pk])


def test_the_holding_limit_applies_per_owner(world):
    with scopes_disabled():
        group = default_group_for(world.tenant_a.pk, "customer")
    set_rules(group, holding_limit=2)
    rows = [[f"客户{i}", "", owner] for i, owner in enumerate(["rep_east"] * 3 + ["rep_west"] * 2)]
    job = confirm(world.admin_a, by_owner(world.admin_a, rows))
    assert (job.summary["created"], job.summary["failed"]) == (4, 1)
    with scopes_disabled():
        assert Customer.objects.filter(owner=world.rep_east).count() == 2
        assert Customer.objects.filter(owner=world.rep_west).count() == 2
    ((row, message),) = job.summary["late_errors"]
    assert row == 4 and "rep_east" in message


def test_undo_of_an_owner_column_import(world):
    rows = [["甲公司", "", "rep_east"], ["乙公司", "", "rep_west"]]
    job = confirm(world.admin_a, by_owner(world.admin_a, rows))
    report = importing.import_undo(actor=world.admin_a, job=job)
    assert report["removed"] == 2
    assert customers(world.tenant_a) == []


def test_duplicates_under_the_owner_target_keep_their_owner(world):
    from tests.customers.factories import make_customer

    existing = make_customer(world.tenant_a, world.rep_west, "老客户")
    rows = [["老客户", "", "rep_east"], ["新客户", "", "rep_east"]]
    job = confirm(world.admin_a, by_owner(world.admin_a, rows, duplicate_mode="overwrite"))
    assert (job.summary["created"], job.summary["updated"]) == (1, 1)
    existing.refresh_from_db()
    assert existing.owner_id == world.rep_west.pk  # an overwrite never changes the owner


def test_the_start_form_offers_the_owner_target(world):
    form = CustomerImportForm(user=world.admin_a)
    assert "owner" in [value for value, _label in form.fields["target"].choices]
    from django.core.files.uploadedfile import SimpleUploadedFile

    form = CustomerImportForm(
        {
            "target": "owner",
            "distribution": "even",
            "duplicate_mode": "skip",
            "duplicate_keys": "either",
        },
        {"file": SimpleUploadedFile("a.xlsx", b"x")},
        user=world.admin_a,
    )
    assert form.is_valid(), form.errors
    options = CustomerImporter().clean_options(world.admin_a, form.options())
    assert options["target"] == "owner"


def test_the_start_page_shows_the_owner_target(world, client):
    from django.urls import reverse

    client.force_login(world.admin_a)
    page = client.get(reverse("customers:import-start") + "?target=owner")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'value="owner"' in body and 'data-target="owner"' in body


def test_owners_and_options_are_read_once_per_file_not_per_row(world):
    """PERF: the check's queries do not grow with the rows (owners and option lists are
    read once, each distinct text matched once)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.spreadsheets import Sheet

    importer = CustomerImporter()
    with scopes_disabled():
        job = ImportJob.objects.create(
            tenant=world.tenant_a,
            kind="customers",
            created_by=world.admin_a,
            original_name="x.xlsx",
            options={
                "target": "owner",
                "duplicate_mode": "skip",
                "duplicate_keys": "name",
                "distribution": "even",
            },
        )
    owners = ["rep_east", "rep_west", "西区 不存在", "13700000003"]
    levels = ["A", "B级", "重点客户", "S级"]

    def queries(n: int) -> int:
        rows = [(i + 2, [f"客户{i}", owners[i % 4], levels[i % 4]]) for i in range(n)]
        data = Sheet(
            headers=["客户名称", "负责人", "客户级别"], header_row=1, rows=rows, raw_headers=[]
        )
        with CaptureQueriesContext(connection) as captured:
            plan = importer.check(job, data, {"name": 0, "owner": 1, "level": 2}, lambda *a: None)
        assert len(plan.rows) == n // 4 * 2  # rep_east's and rep_west's rows with A / B级
        return len(captured)

    assert queries(8) == queries(400)
