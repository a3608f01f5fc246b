"""The lead import (issue 6) through crm.importing: targets (lead pool, employees evenly or
at random, a department), duplicate modes keyed on mobile and/or company, in-file
duplicates, rejected rows in the error file, preview then confirm, undo, and the one import
slot per tenant shared with the customer import. Files are generated."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.utils import timezone
from django_scopes import scopes_disabled
from python_calamine import CalamineWorkbook

from crm import importing
from crm.exceptions import PermissionRefusedError, ServiceError
from crm.models import ActivityLog, ImportJob, OptionKind
from customers.models import FollowUp
from leads.models import Lead, LeadEvent, LeadImportChange
from tests.crm import spreadsheet_files as files
from tests.leads.factories import make_campaign, make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import make_group

HEADERS = ["姓名", "公司名称", "手机", "邮箱", "来源", "市场活动", "备注"]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _scope(world):
    """The test bodies run in tenant A's scope, as a request or a task would."""
    from django.utils import translation

    from crm.tenancy import tenant_scope

    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        yield


@pytest.fixture
def pool(world):
    return make_lead_pool(world.tenant_a, "展会线索池")


@pytest.fixture
def assigned(monkeypatch):
    """The calls the import makes to the assignment rules (the engine is another area's)."""
    calls = []

    def fake(*, leads, trigger, actor=None):
        calls.append((sorted(lead.pk for lead in leads), trigger, actor))
        return {}

    monkeypatch.setattr("leads.assignment.auto_assign", fake)
    return calls


def option(tenant, kind, label):
    from crm.models import Option

    with scopes_disabled():
        return Option.objects.get_or_create(tenant=tenant, kind=kind, label=label)[0]


def sheet(rows, headers=HEADERS, name="线索名单.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, files.xlsx_bytes(headers, rows))


def row(name, company="", mobile="", email="", source="", campaign="", remark=""):
    return [name, company, mobile, email, source, campaign, remark]


def start(actor, data, pool=None, **options) -> ImportJob:
    options.setdefault("target", "pool")
    if options["target"] == "pool" and "pool_group" not in options:
        options["pool_group"] = pool.pk
    with TestCase.captureOnCommitCallbacks(execute=True):
        job = importing.import_start(
            actor=actor, kind=ImportJob.Kind.LEADS, upload=data, options=options
        )
    job.refresh_from_db()
    return job


def confirm(actor, job) -> ImportJob:
    with TestCase.captureOnCommitCallbacks(execute=True):
        importing.import_confirm(actor=actor, job=job)
    job.refresh_from_db()
    return job


def leads(tenant, **filters) -> list[Lead]:
    with scopes_disabled():
        return list(Lead.objects.filter(tenant=tenant, **filters).order_by("pk"))


def error_rows(job) -> list[list]:
    with job.error_file.open("rb") as handle:
        book = CalamineWorkbook.from_filelike(io.BytesIO(handle.read()))
    return book.get_sheet_by_index(0).to_python()


# ---------------------------------------------------------------- targets


def test_pool_import_previews_then_creates_pooled_leads_with_events(world, pool, assigned):
    source = option(world.tenant_a, OptionKind.CUSTOMER_SOURCE, "展会")
    campaign = make_campaign(world.tenant_a, "2026 春季展")
    data = sheet(
        [
            row("王经理", "甲公司", "138 0013 8000", "wang@example.com", "展会", "2026 春季展"),
            row("李工", "乙公司"),
        ]
    )
    job = start(world.admin_a, data, pool)

    assert job.status == ImportJob.Status.PREVIEWED
    assert (job.summary["create"], job.summary["reject"]) == (2, 0)
    assert leads(world.tenant_a) == []  # the preview writes nothing
    assert assigned == []

    job = confirm(world.admin_a, job)
    assert job.status == ImportJob.Status.DONE
    assert (job.summary["created"], job.summary["failed"]) == (2, 0)
    made = leads(world.tenant_a)
    assert [(x.name, x.company, x.mobile) for x in made] == [
        ("王经理", "甲公司", "13800138000"),
        ("李工", "乙公司", ""),
    ]
    first = made[0]
    assert (first.source_id, first.campaign_id, first.email) == (
        source.pk,
        campaign.pk,
        "wang@example.com",
    )
    assert first.company_normalized == "甲公司"
    assert all(
        x.owner_id is None
        and x.pooled_at
        and x.pool_group_id == pool.pk
        and x.pool_reason == "imported"
        and x.status == Lead.Status.NEW
        and x.import_job_id == job.pk
        for x in made
    )
    with scopes_disabled():
        events = list(LeadEvent.objects.filter(lead__in=made))
        entries = list(ActivityLog.objects.filter(action="import.applied"))
    assert (
        sorted((e.kind, e.pool_group_id, e.to_user_id, e.actor_id) for e in events)
        == [("imported", pool.pk, None, world.admin_a.pk)] * 2
    )
    assert len(entries) == 1 and entries[0].object_id == job.pk  # one entry per import
    # The pooled leads are offered to the assignment rules, once, as imported leads.
    assert assigned == [([x.pk for x in made], "import", world.admin_a)]


def test_employees_even_distribution_takes_turns_in_file_order(world, assigned):
    rows = [row(f"人{i}", f"公司{i}") for i in range(5)]
    job = start(
        world.admin_a,
        sheet(rows),
        target="users",
        users=[world.rep_east.pk, world.rep_west.pk],
        distribution="even",
    )
    confirm(world.admin_a, job)
    made = leads(world.tenant_a)
    east, west = world.rep_east.pk, world.rep_west.pk
    assert [x.owner_id for x in made] == [east, west, east, west, east]
    assert all(x.pooled_at is None and x.owned_since and x.pool_reason == "" for x in made)
    with scopes_disabled():
        events = {e.lead_id: e for e in LeadEvent.objects.filter(lead__in=made)}
    assert all(
        events[x.pk].kind == "imported" and events[x.pk].to_user_id == x.owner_id for x in made
    )
    assert assigned == []  # owned leads are not the rules' business


def test_employees_random_distribution_stays_among_the_chosen_and_matches_the_preview(
    world, assigned
):
    rows = [row(f"人{i}", f"公司{i}") for i in range(30)]
    chosen = {world.rep_east.pk, world.rep_west.pk, world.rep_east2.pk}
    job = start(
        world.admin_a, sheet(rows), target="users", users=list(chosen), distribution="random"
    )
    planned = [r[2] for r in importing._load_plan(job)]
    confirm(world.admin_a, job)
    owners = [x.owner_id for x in leads(world.tenant_a)]
    assert set(owners) <= chosen and len(set(owners)) > 1
    assert owners == planned  # decided at the check: confirming applies the preview


def test_department_target_shares_among_its_active_members_below_it(world):
    from crm.models import User

    with scopes_disabled():
        User.objects.filter(pk=world.rep_east2.pk).update(is_active=False)
    rows = [row(f"人{i}", f"公司{i}") for i in range(6)]
    job = start(world.admin_a, sheet(rows), target="department", department=world.sales.pk)
    assert job.options["users"] == sorted(
        [world.manager_sales.pk, world.rep_east.pk, world.rep_west.pk]
    )
    confirm(world.admin_a, job)
    owners = {x.owner_id for x in leads(world.tenant_a)}
    assert owners == {world.manager_sales.pk, world.rep_east.pk, world.rep_west.pk}


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"target": "pool", "pool_group": None}, "target"),
        ({"target": "users", "users": []}, "target"),
        ({"target": "department", "department": None}, "target"),
        ({"target": "elsewhere"}, "target"),
    ],
)
def test_bad_targets_are_refused(world, pool, options, code):
    with pytest.raises(ServiceError) as exc:
        importing.import_start(
            actor=world.admin_a,
            kind=ImportJob.Kind.LEADS,
            upload=sheet([row("甲")]),
            options=options,
        )
    assert exc.value.code == code
    with scopes_disabled():
        assert not ImportJob.objects.exists()


def test_a_customer_pool_a_disabled_lead_pool_or_another_tenants_user_is_refused(world, pool):
    customer_pool = make_group(world.tenant_a, "客户公海", open_to_all=True)
    disabled = make_lead_pool(world.tenant_a, "停用", is_enabled=False)
    for options in (
        {"target": "pool", "pool_group": customer_pool.pk},
        {"target": "pool", "pool_group": disabled.pk},
        {"target": "users", "users": [world.rep_b.pk]},
        {"target": "users", "users": [world.rep_east.pk], "duplicate_keys": "name"},
    ):
        with pytest.raises(ServiceError):
            importing.import_start(
                actor=world.admin_a,
                kind=ImportJob.Kind.LEADS,
                upload=sheet([row("甲")]),
                options=options,
            )


def test_a_department_without_active_members_is_refused(world):
    from tests.factories import make_department

    empty = make_department(world.tenant_a, "空部门")
    with pytest.raises(ServiceError) as exc:
        start(world.admin_a, sheet([row("甲")]), target="department", department=empty.pk)
    assert exc.value.code == "target"


# ---------------------------------------------------------------- permissions and the slot


@pytest.mark.parametrize("persona", ["manager_sales", "rep_east", "service_a"])
def test_only_users_with_lead_import_may_import(world, pool, persona):
    with pytest.raises(PermissionRefusedError):
        start(getattr(world, persona), sheet([row("甲")]), pool)


def test_a_running_customer_import_blocks_a_lead_import_and_says_who(world, pool):
    with scopes_disabled():
        ImportJob.objects.create(
            tenant=world.tenant_a,
            kind=ImportJob.Kind.CUSTOMERS,
            status=ImportJob.Status.APPLYING,
            created_by=world.admin_a,
            original_name="客户名单.xlsx",
            started_at=timezone.now(),
        )
    with pytest.raises(ServiceError) as exc:
        start(world.admin_a, sheet([row("甲")]), pool)
    assert exc.value.code == "busy"
    assert "admin_a" in str(exc.value.message) or str(world.admin_a) in str(exc.value.message)
    assert "客户名单.xlsx" in str(exc.value.message)
    with scopes_disabled():
        assert ImportJob.objects.filter(kind=ImportJob.Kind.LEADS).count() == 0


def test_a_lead_import_being_confirmed_blocks_a_customer_import(world, pool):
    from pools.services import default_group_for

    job = start(world.admin_a, sheet([row("甲")]), pool)
    with scopes_disabled():
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.APPLYING)
    with pytest.raises(ServiceError) as exc:
        importing.import_start(
            actor=world.admin_a,
            kind=ImportJob.Kind.CUSTOMERS,
            upload=sheet([["甲客户"]], headers=["客户名称"]),
            options={
                "target": "pool",
                "pool_group": default_group_for(world.tenant_a.pk, "customer").pk,
            },
        )
    assert exc.value.code == "busy" and "线索名单.xlsx" in str(exc.value.message)


# ---------------------------------------------------------------- bad rows


def test_bad_rows_go_to_the_error_file_with_their_reasons(world, pool):
    option(world.tenant_a, OptionKind.CUSTOMER_SOURCE, "展会")
    make_campaign(world.tenant_a, "春季展")
    data = sheet(
        [
            row("好人", "好公司", "13800138000", "a@example.com", "展会", "春季展"),
            row("坏手机", "", "12345"),
            row("坏邮箱", "", "", "not-an-email"),
            row("坏来源", "", "", "", "电视购物"),
            row("坏活动", "", "", "", "", "不存在的活动"),
            row("", "没名字公司", "13900139000"),
        ]
    )
    job = start(world.admin_a, data, pool)
    assert (job.summary["create"], job.summary["reject"]) == (1, 5)
    reasons = dict(job.summary["rejected_preview"])
    assert "12345" in reasons[3] and "Mobile" in reasons[3]
    assert "not-an-email" in reasons[4] and "Email" in reasons[4]
    assert "电视购物" in reasons[5] and "展会" in reasons[5]  # names the allowed values
    assert "不存在的活动" in reasons[6] and "春季展" in reasons[6]
    assert "required" in reasons[7]
    table = error_rows(job)
    assert table[0][-1] == "Error reason"
    assert [r[0] for r in table[1:]] == ["坏手机", "坏邮箱", "坏来源", "坏活动", ""]
    assert all(r[-1] for r in table[1:])
    job = confirm(world.admin_a, job)
    assert (job.summary["created"], job.summary["failed"]) == (1, 5)
    assert [x.name for x in leads(world.tenant_a)] == ["好人"]


def test_phones_and_dates_in_the_usual_forms_are_accepted(world, pool):
    data = sheet(
        [["甲", "+86 139-0013-9000", "021-58881234", "2026/12/01"]],
        headers=["姓名", "手机号码", "电话", "下次跟进时间"],
    )
    confirm(world.admin_a, start(world.admin_a, data, pool))
    (made,) = leads(world.tenant_a)
    assert (made.mobile, made.phone) == ("13900139000", "021-58881234")
    local = timezone.localtime(made.next_followup_at)
    assert (local.date(), local.hour) == (datetime.date(2026, 12, 1), 9)


def test_a_file_without_the_name_column_fails_with_the_columns_named(world, pool):
    job = start(world.admin_a, sheet([["甲公司"]], headers=["公司名称"]), pool)
    # Issue 17: the mapping step shows the reason; nothing can be confirmed.
    assert job.status == ImportJob.Status.PREVIEWED and not job.plan
    assert "Name" in job.message and job.summary["mapping_errors"] == [job.message]


# ---------------------------------------------------------------- duplicates


def test_in_file_duplicates_by_mobile_or_company_are_rejected_naming_the_first_row(world, pool):
    data = sheet(
        [
            row("甲", "甲公司", "13800138000"),
            row("乙", "乙公司", "138-0013-8000"),  # the same mobile
            row("丙", "（甲公司）"),  # the same company, normalised
            row("丁", "丁公司"),
        ]
    )
    job = start(world.admin_a, data, pool, duplicate_keys="either")
    assert (job.summary["create"], job.summary["reject"]) == (2, 2)
    reasons = dict(map(tuple, job.summary["rejected_preview"]))
    assert "row 2" in reasons[3] and "row 2" in reasons[4]


def test_company_key_alone_ignores_a_repeated_mobile(world, pool):
    data = sheet([row("甲", "甲公司", "13800138000"), row("乙", "乙公司", "13800138000")])
    job = start(world.admin_a, data, pool, duplicate_keys="company")
    assert (job.summary["create"], job.summary["reject"]) == (2, 0)


def test_skip_mode_skips_leads_that_exist_pool_included(world, pool):
    make_lead(world.tenant_a, world.rep_east, "老王", company="甲公司", mobile="13800138000")
    make_pooled_lead(pool, "老李", company="其他", mobile="13900139000")
    data = sheet(
        [row("甲", "别的公司", "13800138000"), row("乙", "", "13900139000"), row("丙", "丙公司")]
    )
    job = start(world.admin_a, data, pool, duplicate_mode="skip", duplicate_keys="mobile")
    assert (job.summary["create"], job.summary["skip"]) == (1, 2)
    skipped = dict(map(tuple, job.summary["skipped_preview"]))
    assert "老王" in skipped[2] and "rep_east" in skipped[2]
    assert "老李" in skipped[3] and "in the pool" in skipped[3]
    job = confirm(world.admin_a, job)
    assert job.summary["skipped"] == 2
    assert len(leads(world.tenant_a)) == 3


def test_overwrite_mode_updates_the_match_keeps_owner_and_creates_the_new(world, pool):
    old = make_lead(
        world.tenant_a,
        world.rep_east,
        "老王",
        company="甲公司",
        mobile="13800138000",
        email="o@x.cn",
    )
    headers = ["姓名", "公司名称", "手机", "邮箱", "职务"]
    data = sheet(
        [["王总", "甲公司（新）", "13800138000", "", "总经理"], ["新人", "新公司", "", "", ""]],
        headers=headers,
    )
    job = start(world.admin_a, data, pool, duplicate_mode="overwrite", duplicate_keys="mobile")
    assert (job.summary["create"], job.summary["update"]) == (1, 1)
    job = confirm(world.admin_a, job)
    assert (job.summary["created"], job.summary["updated"]) == (1, 1)
    old.refresh_from_db()
    assert (old.name, old.company, old.email, old.title) == ("王总", "甲公司（新）", "", "总经理")
    assert old.company_normalized == "甲公司新"
    assert old.owner_id == world.rep_east.pk and old.pooled_at is None  # owner kept
    with scopes_disabled():
        change = LeadImportChange.objects.get(job=job)
    assert change.lead_id == old.pk and change.before["email"] == "o@x.cn"


def test_update_only_creates_nothing_and_refuses_converted_and_ambiguous_matches(world, pool):
    one = make_lead(world.tenant_a, world.rep_east, "一", company="甲公司", mobile="13800138001")
    make_lead(world.tenant_a, world.rep_east, "二", company="乙公司", mobile="13800138002")
    make_lead(world.tenant_a, world.rep_west, "二二", company="乙公司")
    make_lead(
        world.tenant_a,
        world.rep_east,
        "已转",
        company="丙公司",
        status=Lead.Status.CONVERTED,
    )
    data = sheet(
        [
            row("一改", "甲公司", "13800138001"),
            row("新", "丁公司"),
            row("二改", "乙公司"),  # two leads at 乙公司
            row("转改", "丙公司"),  # converted: read-only
        ]
    )
    job = start(world.admin_a, data, pool, duplicate_mode="update_only", duplicate_keys="either")
    assert (job.summary["create"], job.summary["update"]) == (0, 1)
    assert (job.summary["skip"], job.summary["reject"]) == (1, 2)
    reasons = dict(map(tuple, job.summary["rejected_preview"]))
    assert "several" in reasons[4] and "converted" in reasons[5]
    confirm(world.admin_a, job)
    one.refresh_from_db()
    assert one.name == "一改"
    assert len(leads(world.tenant_a)) == 4


def test_confirm_applies_the_preview_and_skips_a_lead_created_meanwhile(world, pool):
    job = start(world.admin_a, sheet([row("甲", "", "13800138000"), row("乙")]), pool)
    assert job.summary["create"] == 2
    make_lead(world.tenant_a, world.rep_east, "抢先", mobile="13800138000")
    option(world.tenant_a, OptionKind.CUSTOMER_SOURCE, "后加的来源")  # the check is not redone
    job = confirm(world.admin_a, job)
    assert (job.summary["created"], job.summary["skipped"]) == (1, 1)
    assert job.summary["late_errors"][0][0] == 2
    assert [x.name for x in leads(world.tenant_a, import_job=job)] == ["乙"]


def test_another_tenants_leads_are_not_duplicates(world, pool):
    make_lead(world.tenant_b, world.rep_b, "别家", company="甲公司", mobile="13800138000")
    job = start(world.admin_a, sheet([row("甲", "甲公司", "13800138000")]), pool)
    assert (job.summary["create"], job.summary["skip"]) == (1, 0)


# ---------------------------------------------------------------- undo


def test_undo_removes_untouched_leads_and_keeps_touched_ones_with_reasons(world, pool):
    rows = [row(f"人{i}", f"公司{i}") for i in range(6)]
    job = confirm(
        world.admin_a,
        start(world.admin_a, sheet(rows), target="users", users=[world.rep_east.pk]),
    )
    made = leads(world.tenant_a)
    _untouched, followed, claimed, converted, edited, noted = made
    with scopes_disabled():
        FollowUp.objects.create(
            tenant=world.tenant_a,
            record=followed,
            counts_as=FollowUp.LEAD,
            created_by=world.rep_east,
            content="打过电话",
        )
        LeadEvent.objects.create(
            tenant=world.tenant_a, lead=claimed, kind=LeadEvent.Kind.TRANSFERRED
        )
        Lead.objects.filter(pk=converted.pk).update(status=Lead.Status.CONVERTED)
        Lead.objects.filter(pk=edited.pk).update(
            remark="改过", updated_at=timezone.now() + datetime.timedelta(seconds=1)
        )
        Lead.objects.filter(pk=noted.pk).update(last_followup_at=timezone.now())
    report = importing.import_undo(actor=world.admin_a, job=job)

    assert report["removed"] == 1 and report["restored"] == 0
    kept = {k["id"]: k["reason"] for k in report["kept"]}
    assert set(kept) == {followed.pk, claimed.pk, converted.pk, edited.pk, noted.pk}
    assert "follow-up" in kept[followed.pk] and "follow-up" in kept[noted.pk]
    assert "owner changed" in kept[claimed.pk]
    assert "converted" in kept[converted.pk]
    assert "edited" in kept[edited.pk]
    assert {k["name"] for k in report["kept"]} >= {"公司1 人1"}
    assert [x.pk for x in leads(world.tenant_a)] == [x.pk for x in made[1:]]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UNDONE
    with scopes_disabled():
        assert ActivityLog.objects.filter(action="import.undone", object_id=job.pk).count() == 1


def test_undo_ignores_the_rules_assignment_made_by_the_import_itself(world, pool, monkeypatch):
    from leads.services import lead_ownership_change

    def assign_all(*, leads, trigger, actor=None):
        lead_ownership_change(
            actor=None, leads=leads, to_user=world.rep_east, kind="auto_assigned", notify=False
        )
        return {lead.pk: world.rep_east for lead in leads}

    monkeypatch.setattr("leads.assignment.auto_assign", assign_all)
    job = confirm(world.admin_a, start(world.admin_a, sheet([row("甲"), row("乙")]), pool))
    assert job.summary["auto_assigned"] == 2
    assert {x.owner_id for x in leads(world.tenant_a)} == {world.rep_east.pk}
    report = importing.import_undo(actor=world.admin_a, job=job)
    assert (report["removed"], report["kept"]) == (2, [])


def test_undo_restores_overwritten_leads_unless_changed_since(world, pool):
    a = make_lead(world.tenant_a, world.rep_east, "甲", company="甲公司", remark="原来")
    b = make_lead(world.tenant_a, world.rep_east, "乙", company="乙公司", remark="原来")
    data = sheet([row("甲", "甲公司", remark="覆盖"), row("乙", "乙公司", remark="覆盖")])
    job = confirm(
        world.admin_a,
        start(world.admin_a, data, pool, duplicate_mode="overwrite", duplicate_keys="company"),
    )
    with scopes_disabled():
        Lead.objects.filter(pk=b.pk).update(
            remark="后来改的", updated_at=timezone.now() + datetime.timedelta(seconds=1)
        )
    report = importing.import_undo(actor=world.admin_a, job=job)
    assert (report["removed"], report["restored"]) == (0, 1)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.remark, b.remark) == ("原来", "后来改的")
    assert [k["id"] for k in report["kept"]] == [b.pk]


def test_undo_is_refused_after_seven_days_and_twice(world, pool):
    job = confirm(world.admin_a, start(world.admin_a, sheet([row("甲")]), pool))
    importing.import_undo(actor=world.admin_a, job=job)
    with pytest.raises(ServiceError) as exc:
        importing.import_undo(actor=world.admin_a, job=job)
    assert exc.value.code == "undo_expired"
    job2 = confirm(world.admin_a, start(world.admin_a, sheet([row("乙")]), pool))
    with scopes_disabled():
        ImportJob.objects.filter(pk=job2.pk).update(
            finished_at=timezone.now() - datetime.timedelta(days=8)
        )
    job2.refresh_from_db()
    with pytest.raises(ServiceError) as exc:
        importing.import_undo(actor=world.admin_a, job=job2)
    assert exc.value.code == "undo_expired"
    with pytest.raises(PermissionRefusedError):
        importing.import_undo(actor=world.manager_sales, job=job2)


def test_the_template_lists_the_columns_and_allowed_values(world):
    from django.utils import translation

    make_campaign(world.tenant_a, "春季展")
    with translation.override("zh-hans"):
        body = importing.importer_for("leads").template(world.tenant_a.pk)
    book = CalamineWorkbook.from_filelike(io.BytesIO(body))
    headers = book.get_sheet_by_index(0).to_python()[0]
    assert headers == [
        "姓名*",
        "公司名称",
        "手机",
        "电话",
        "邮箱",
        "职务",
        "来源",
        "市场活动",
        "省份",
        "城市",
        "区县",
        "地址",
        "备注",
        "下次跟进时间",
        "负责人",  # issue 17: the owner column (按负责人导入)
    ]
    allowed = book.get_sheet_by_index(1).to_python()
    assert "春季展" in [r[allowed[0].index("市场活动")] for r in allowed[1:]]


def test_a_large_file_runs_on_the_worker_in_batches(world, pool, settings, monkeypatch):
    """Checked and applied by the tasks (eager in the tests), batch by batch: every batch
    offers its own pooled leads to the rules, and a lead repeated inside the file's later
    batch is still caught at the check."""
    calls = []

    def fake(*, leads, trigger, actor=None):
        calls.append(len(leads))
        return {leads[0].pk: world.rep_east} if leads else {}

    monkeypatch.setattr("leads.assignment.auto_assign", fake)
    monkeypatch.setattr(importing.importer_for("leads"), "batch_size", 2)
    settings.IMPORT_SYNC_BYTES = 1
    settings.IMPORT_SYNC_ROWS = 0
    rows = [row(f"人{i}", f"公司{i}", f"1380013800{i}") for i in range(5)] + [
        row("重复", "", "13800138001")
    ]
    job = start(world.admin_a, sheet(rows), pool)
    assert (job.status, job.summary["create"], job.summary["reject"]) == ("previewed", 5, 1)
    job = confirm(world.admin_a, job)
    assert job.status == ImportJob.Status.DONE
    assert job.summary["created"] == 5
    assert calls == [2, 2, 1] and job.summary["auto_assigned"] == 3
    assert len(leads(world.tenant_a, import_job=job)) == 5
