"""Imports within scope (issue 14 point 5).

* Overwrite (覆盖导入) and update-only (仅覆盖重复数据) write only the customers and leads the
  importer may edit; a row matching anything else is skipped as 已存在，归属他人 and its
  match is named nowhere (summary, preview page, result), in every duplicate mode.
* Applying re-checks: a record that left the importer's reach between the preview and the
  confirmation is skipped then.
* An import job's pages belong to its creator and to holders of ``import.manage`` (tenant
  admins); another importer gets a 404 on every one of them and does not see it listed.
"""

from __future__ import annotations

import importlib
import io

import orjson
import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse
from django.utils import translation
from django_scopes import scopes_disabled
from python_calamine import CalamineWorkbook

from crm import importing
from crm.exceptions import NotVisibleError
from crm.models import DataScope, ImportJob, Role
from crm.tenancy import tenant_scope
from customers.models import Customer
from leads.models import Lead
from tests.crm import spreadsheet_files as files
from tests.customers.factories import make_contact, make_customer, make_participant
from tests.factories import make_role
from tests.leads.factories import make_lead, make_lead_pool, make_pooled_lead
from tests.pools.factories import make_group, pooled

OUT_OF_REACH = "Already exists, owned by someone else"
CUSTOMER_HEADERS = ["客户名称", "联系电话", "备注"]
LEAD_HEADERS = ["姓名", "公司名称", "手机", "备注"]
MODES = ["skip", "overwrite", "update_only"]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def importers(world):
    """rep_east, rep_east2 and rep_west may import customers and leads (scope: their own
    records); admin_a is the tenant admin (scope all, import.manage)."""
    role = make_role(world.tenant_a, "导入专员", DataScope.OWN, ["customer.import", "lead.import"])
    with scopes_disabled():
        for user in (world.rep_east, world.rep_east2, world.rep_west):
            user.role = role
            user.save(update_fields=["role"])
    return role


def fresh(user):
    """The user as a new request sees them (no cached scope or pool groups)."""
    from crm.models import User

    with scopes_disabled():
        return User.objects.get(pk=user.pk)


def _start(actor, kind, headers, rows, **options):
    options.setdefault("target", "users")
    options.setdefault("users", [actor.pk])
    options.setdefault("duplicate_keys", "either")
    data = SimpleUploadedFile("名单.xlsx", files.xlsx_bytes(headers, rows))
    with (
        tenant_scope(actor.tenant_id),
        translation.override("en"),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        job = importing.import_start(actor=fresh(actor), kind=kind, upload=data, options=options)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    return job


def start_customers(actor, rows, **options):
    return _start(actor, ImportJob.Kind.CUSTOMERS, CUSTOMER_HEADERS, rows, **options)


def start_leads(actor, rows, **options):
    return _start(actor, ImportJob.Kind.LEADS, LEAD_HEADERS, rows, **options)


def confirm(actor, job) -> ImportJob:
    with (
        tenant_scope(actor.tenant_id),
        translation.override("en"),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        importing.import_confirm(actor=fresh(actor), job=job)
    job.refresh_from_db()
    return job


def result(job) -> tuple[int, int, int]:
    """Created, updated and skipped of an applied job."""
    return tuple(job.summary.get(key, 0) for key in ("created", "updated", "skipped"))


def dumped(job) -> str:
    """Everything the job tells its reader about the records it met: summary (preview,
    result, late errors). The mapping step's sample values are left out: they are the
    uploader's own cells (a row of this file may well hold the name it tried), not what the
    import found (tests/crm/test_import_mapping.py shows they are the file's first cells)."""
    summary = dict(job.summary)
    summary["mapping_columns"] = [
        {k: v for k, v in column.items() if k != "samples"}
        for column in summary.get("mapping_columns", [])
    ]
    return orjson.dumps(summary).decode()


def reload(obj):
    with scopes_disabled():
        obj.refresh_from_db()
    return obj


# ---------------------------------------------------------------- customers


@pytest.fixture
def secret_customer(world):
    """A customer of rep_west, outside rep_east's scope, with a contact phone."""
    customer = make_customer(world.tenant_a, world.rep_west, "西区秘密客户", remark="原备注")
    make_contact(customer, "钱七", mobile="13911112222")
    return customer


@pytest.mark.parametrize("mode", MODES)
def test_a_customer_outside_the_scope_is_skipped_unnamed_and_untouched(
    world, importers, secret_customer, mode
):
    rows = [
        ["随便起的名字", "13911112222", "新备注"],  # the secret customer's phone
        ["西区秘密客户", "", "新备注"],  # its name
    ]
    job = start_customers(world.rep_east, rows, duplicate_mode=mode)
    assert (job.summary["create"], job.summary["update"], job.summary["skip"]) == (0, 0, 2)
    assert job.summary["skipped_preview"] == [[2, OUT_OF_REACH], [3, OUT_OF_REACH]]
    assert "西区秘密客户" not in dumped(job) and "rep_west" not in dumped(job)

    job = confirm(world.rep_east, job)
    assert result(job) == (0, 0, 2)
    reload(secret_customer)
    assert (secret_customer.name, secret_customer.remark) == ("西区秘密客户", "原备注")
    assert secret_customer.owner_id == world.rep_west.pk
    with scopes_disabled():
        assert Customer.objects.filter(tenant=world.tenant_a).count() == 1


def test_the_preview_page_does_not_name_an_invisible_match(
    world, importers, secret_customer, login
):
    own = make_customer(world.tenant_a, world.rep_east, "东区自己的客户")
    rows = [["东区自己的客户", "", ""], ["改个名", "13911112222", ""]]
    job = start_customers(world.rep_east, rows, duplicate_mode="skip")
    page = login(world.rep_east).get(reverse("crm:import-detail", args=[job.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert own.name in body  # a visible match may be named
    assert "西区秘密客户" not in body and "rep_west" not in body
    assert "已存在，归属他人" in body or OUT_OF_REACH in body


def test_a_row_matching_an_own_and_an_invisible_customer_is_skipped_not_rejected_by_name(
    world, importers, secret_customer
):
    make_customer(world.tenant_a, world.rep_east, "东区客户")
    job = start_customers(
        world.rep_east, [["东区客户", "13911112222", ""]], duplicate_mode="overwrite"
    )
    assert job.summary["skipped_preview"] == [[2, OUT_OF_REACH]]
    assert job.summary["reject"] == 0 and not job.error_file
    assert "西区秘密客户" not in dumped(job)


def test_a_participant_overwrites_only_with_the_edit_grant(world, importers):
    read_only = make_customer(world.tenant_a, world.rep_west, "只读参与客户", remark="旧")
    editable = make_customer(world.tenant_a, world.rep_west, "可编辑参与客户", remark="旧")
    make_participant(read_only, world.rep_east)
    make_participant(editable, world.rep_east, can_edit=True)
    rows = [["只读参与客户", "", "新"], ["可编辑参与客户", "", "新"]]
    job = confirm(world.rep_east, start_customers(world.rep_east, rows, duplicate_mode="overwrite"))
    assert result(job) == (0, 1, 1)
    assert reload(read_only).remark == "旧" and reload(editable).remark == "新"


def test_a_manager_overwrites_the_customers_of_the_team(world, importers):
    role = make_role(
        world.tenant_a, "导入经理", DataScope.DEPARTMENT_AND_BELOW, ["customer.import"]
    )
    with scopes_disabled():
        world.manager_sales.role = role
        world.manager_sales.save(update_fields=["role"])
    team = make_customer(world.tenant_a, world.rep_east, "华东客户", remark="旧")
    other = make_customer(world.tenant_a, world.service_a, "售后部客户", remark="旧")
    rows = [["华东客户", "", "新"], ["售后部客户", "", "新"]]
    job = start_customers(world.manager_sales, rows, duplicate_mode="update_only")
    assert job.summary["skipped_preview"] == [[3, OUT_OF_REACH]]
    job = confirm(world.manager_sales, job)
    assert reload(team).remark == "新" and reload(other).remark == "旧"


def test_a_pooled_customer_is_overwritten_only_by_an_admin_of_its_group(world, importers):
    group = make_group(world.tenant_a, "华东公海", users=[world.rep_east], admins=[world.rep_west])
    customer = pooled(group, "池中客户", remark="旧")
    rows = [["池中客户", "", "新"]]
    member = start_customers(world.rep_east, rows, duplicate_mode="overwrite")
    assert member.summary["skipped_preview"] == [[2, OUT_OF_REACH]]
    assert result(confirm(world.rep_east, member)) == (0, 0, 1)
    assert reload(customer).remark == "旧"

    admin = confirm(
        world.rep_west, start_customers(world.rep_west, rows, duplicate_mode="overwrite")
    )
    assert admin.summary["updated"] == 1
    customer = reload(customer)
    assert customer.remark == "新" and customer.owner_id is None and customer.pooled_at


def test_applying_skips_a_customer_that_left_the_importers_scope_after_the_preview(
    world, importers
):
    customer = make_customer(world.tenant_a, world.rep_east, "东区客户", remark="旧")
    job = start_customers(world.rep_east, [["东区客户", "", "新"]], duplicate_mode="overwrite")
    assert job.summary["update"] == 1
    with scopes_disabled():
        Customer.objects.filter(pk=customer.pk).update(owner=world.rep_west)
    job = confirm(world.rep_east, job)
    assert job.status == ImportJob.Status.DONE
    assert result(job) == (0, 0, 1)
    assert job.summary["late_errors"] == [[2, OUT_OF_REACH]]
    assert reload(customer).remark == "旧"


def test_the_editable_set_is_computed_with_a_few_queries_whatever_the_matches(world, importers):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    mine = [make_customer(world.tenant_a, world.rep_east, f"自己的{n}") for n in range(30)]
    theirs = [make_customer(world.tenant_a, world.rep_west, f"别人的{n}") for n in range(30)]
    shared = make_customer(world.tenant_a, world.rep_west, "参与的")
    make_participant(shared, world.rep_east, can_edit=True)
    counts = []
    for size in (2, 30):
        ids = [c.pk for c in mine[:size] + theirs[:size]] + [shared.pk]
        rep = fresh(world.rep_east)
        with tenant_scope(rep.tenant_id), CaptureQueriesContext(connection) as queries:
            reach = importing.records_in_reach(
                rep, Customer.objects.all(), ids, ("name",), pool_admin_groups=[]
            )
        counts.append(len(queries))
        editable = {pk for pk, row in reach.items() if row["editable"]}
        assert editable == {c.pk for c in mine[:size]} | {shared.pk}
        assert set(reach) == editable  # the others are not even returned
    assert counts[0] == counts[1] <= 5


# ---------------------------------------------------------------- leads


@pytest.fixture
def secret_lead(world):
    return make_lead(
        world.tenant_a, world.rep_west, "孙八", company="西区秘密公司", mobile="13922223333"
    )


@pytest.mark.parametrize("mode", MODES)
def test_a_lead_outside_the_scope_is_skipped_unnamed_and_untouched(
    world, importers, secret_lead, mode
):
    rows = [["改名", "", "13922223333", "新备注"], ["换人", "西区秘密公司", "", "新备注"]]
    job = start_leads(world.rep_east, rows, duplicate_mode=mode)
    assert (job.summary["create"], job.summary["update"], job.summary["skip"]) == (0, 0, 2)
    assert job.summary["skipped_preview"] == [[2, OUT_OF_REACH], [3, OUT_OF_REACH]]
    for secret in ("西区秘密公司", "孙八", "rep_west"):
        assert secret not in dumped(job)

    job = confirm(world.rep_east, job)
    assert result(job) == (0, 0, 2)
    reload(secret_lead)
    assert (secret_lead.name, secret_lead.company, secret_lead.remark) == (
        "孙八",
        "西区秘密公司",
        "",
    )
    with scopes_disabled():
        assert Lead.objects.filter(tenant=world.tenant_a).count() == 1


def test_an_own_lead_is_still_overwritten(world, importers, secret_lead):
    own = make_lead(
        world.tenant_a, world.rep_east, "周九", company="东区公司", mobile="13933334444"
    )
    job = confirm(
        world.rep_east,
        start_leads(
            world.rep_east, [["周九", "", "13933334444", "新备注"]], duplicate_mode="overwrite"
        ),
    )
    assert job.summary["updated"] == 1
    assert reload(own).remark == "新备注"


def test_a_pooled_lead_is_overwritten_only_by_an_admin_of_its_lead_pool(world, importers):
    pool = make_lead_pool(world.tenant_a, "线索池")
    with scopes_disabled():
        from pools.models import PoolGroupUser

        PoolGroupUser.objects.create(
            tenant=world.tenant_a, group=pool, user=world.rep_west, is_admin=True
        )
    lead = make_pooled_lead(pool, "吴十", company="池中公司", mobile="13944445555")
    rows = [["吴十", "", "13944445555", "新"]]
    member = confirm(
        world.rep_east, start_leads(world.rep_east, rows, duplicate_mode="update_only")
    )
    assert result(member) == (0, 0, 1)
    assert reload(lead).remark == ""
    admin = confirm(world.rep_west, start_leads(world.rep_west, rows, duplicate_mode="update_only"))
    assert admin.summary["updated"] == 1 and reload(lead).remark == "新"


def test_applying_skips_a_lead_that_left_the_importers_scope_after_the_preview(world, importers):
    lead = make_lead(
        world.tenant_a, world.rep_east, "郑一", company="东区公司", mobile="13955556666"
    )
    job = start_leads(
        world.rep_east, [["郑一", "", "13955556666", "新"]], duplicate_mode="overwrite"
    )
    assert job.summary["update"] == 1
    with scopes_disabled():
        Lead.objects.filter(pk=lead.pk).update(owner=world.rep_west)
    job = confirm(world.rep_east, job)
    assert result(job) == (0, 0, 1)
    assert job.summary["late_errors"] == [[2, OUT_OF_REACH]]
    assert reload(lead).remark == ""


# ---------------------------------------------------------------- the job's pages


JOB_PAGES = ["crm:import-detail", "crm:import-progress", "crm:import-errors"]
JOB_ACTIONS = ["crm:import-confirm", "crm:import-cancel", "crm:import-undo"]


@pytest.mark.parametrize("kind", ["customers", "leads"])
def test_another_importer_gets_a_404_on_every_page_of_someone_elses_job(
    world, importers, login, kind
):
    if kind == "customers":
        job = start_customers(world.rep_east, [["新客户", "", ""], ["", "", "没有名字"]])
    else:
        job = start_leads(world.rep_east, [["新线索", "", "", ""], ["", "", "", "没有名字"]])
    assert job.error_file  # the error file exists, so its 404 is the job's
    client = login(world.rep_east2)
    for name in JOB_PAGES:
        assert client.get(reverse(name, args=[job.pk])).status_code == 404, name
    for name in JOB_ACTIONS:
        assert client.post(reverse(name, args=[job.pk])).status_code == 404, name
    reload(job)
    assert job.status == ImportJob.Status.PREVIEWED
    start_page = "customers:import-start" if kind == "customers" else "leads:lead-import"
    assert "名单.xlsx" not in client.get(reverse(start_page)).content.decode()
    # The creator sees it all.
    client = login(world.rep_east)
    assert "名单.xlsx" in client.get(reverse(start_page)).content.decode()
    for name in JOB_PAGES:
        assert client.get(reverse(name, args=[job.pk])).status_code == 200, name


def test_an_admin_with_import_manage_opens_confirms_and_undoes_anothers_job(
    world, importers, login
):
    job = start_customers(world.rep_east, [["新客户", "", ""], ["", "", "没有名字"]])
    client = login(world.admin_a)
    assert "名单.xlsx" in client.get(reverse("customers:import-start")).content.decode()
    for name in JOB_PAGES:
        assert client.get(reverse(name, args=[job.pk])).status_code == 200, name
    client.post(reverse("crm:import-confirm", args=[job.pk]))
    assert reload(job).status == ImportJob.Status.DONE
    with scopes_disabled():
        created = Customer.objects.get(import_job=job)
    # Written with the creator's rights and in their name.
    assert created.created_by_id == world.rep_east.pk
    client.post(reverse("crm:import-undo", args=[job.pk]))
    assert reload(job).status == ImportJob.Status.UNDONE


def test_a_role_without_import_manage_does_not_manage_others_jobs(world, importers):
    job = start_customers(world.rep_east, [["新客户", "", ""]])
    other = fresh(world.rep_east2)
    with tenant_scope(world.tenant_a.pk):
        assert list(importing.jobs_for(other)) == []
        with pytest.raises(NotVisibleError):
            importing.job_get(other, job.pk)
        for service in (importing.import_confirm, importing.import_cancel):
            with pytest.raises(NotVisibleError):
                service(actor=other, job=job)
        # import.manage, given to the same role, opens them.
        with scopes_disabled():
            importers.permissions = [*importers.permissions, "import.manage"]
            importers.save(update_fields=["permissions"])
        manager = fresh(world.rep_east2)
        assert [j.pk for j in importing.jobs_for(manager)] == [job.pk]
        importing.import_cancel(actor=manager, job=job)
    assert reload(job).status == ImportJob.Status.CANCELLED


def test_the_error_file_of_a_job_names_no_invisible_match(world, importers, login, secret_customer):
    make_customer(world.tenant_a, world.rep_east, "东区甲")
    make_customer(world.tenant_a, world.rep_east, "东区乙", is_locked=True)
    rows = [["东区甲", "13911112222", ""], ["东区乙", "", ""], ["", "", "坏行"]]
    job = start_customers(world.rep_east, rows, duplicate_mode="overwrite")
    response = login(world.rep_east).get(reverse("crm:import-errors", args=[job.pk]))
    book = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(response.streaming_content)))
    text = orjson.dumps(book.get_sheet_by_index(0).to_python()).decode()
    assert "locked" in text  # the own locked customer is refused by its name
    assert "西区秘密客户" not in text and "rep_west" not in text


# ---------------------------------------------------------------- the permission


def test_admin_roles_get_import_manage_and_the_migration_grants_it_to_existing_ones(world):
    with scopes_disabled():
        admin = Role.objects.get(tenant=world.tenant_a, builtin=Role.Builtin.ADMIN)
        rep = Role.objects.get(tenant=world.tenant_a, builtin=Role.Builtin.SALES_REP)
        assert "import.manage" in admin.permissions  # new tenants
        assert "import.manage" not in rep.permissions
        admin.permissions = [c for c in admin.permissions if c != "import.manage"]
        admin.save(update_fields=["permissions"])
    migration = importlib.import_module("crm.migrations.0005_import_manage_permission")
    migration.grant(apps, None)
    migration.grant(apps, None)  # twice: no duplicate
    with scopes_disabled():
        admin.refresh_from_db()
        rep.refresh_from_db()
    assert admin.permissions.count("import.manage") == 1
    assert "import.manage" not in rep.permissions


def test_the_undo_report_does_not_name_a_kept_customer_the_viewer_may_not_see(
    world, importers, login
):
    from tests.customers.factories import make_followup

    job = confirm(world.rep_east, start_customers(world.rep_east, [["东区新客户", "", ""]]))
    with scopes_disabled():
        created = Customer.objects.get(import_job=job)
        Customer.objects.filter(pk=created.pk).update(owner=world.rep_west)
    make_followup(created, world.rep_west)  # kept by the undo
    client = login(world.rep_east)
    client.post(reverse("crm:import-undo", args=[job.pk]))
    assert reload(job).summary["undo"]["kept"][0]["id"] == created.pk
    body = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert 'id="undo-kept"' in body and "东区新客户" not in body
    body = login(world.admin_a).get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert "东区新客户" in body
