"""The column-mapping step of an import (issue 17, points 1 and 6): the order a mapping is
resolved in (the user's, then the one remembered for the tenant and the header row, then
automatic recognition), a field named by two headers no longer refusing the file, the
remap service's refusals, the dry run recomputed, nothing written before confirming, the
remembered mapping per tenant and per header set, a downloaded template mapped wholly
automatically, and the remap URL's isolation."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse
from django.utils import translation
from django_scopes import scopes_disabled

from crm import importing
from crm.exceptions import NotVisibleError, PermissionRefusedError, ServiceError
from crm.models import ImportJob, ImportMapping
from crm.tenancy import tenant_scope
from customers.models import Customer
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.leads.factories import make_lead_pool


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def start(actor, headers, rows, kind=ImportJob.Kind.CUSTOMERS, name="名单.xlsx", data=None):
    with tenant_scope(actor.tenant_id):
        if kind == ImportJob.Kind.CUSTOMERS:
            group = default_group_for(actor.tenant_id, "customer")
        else:
            with scopes_disabled():
                group = make_lead_pool(actor.tenant, "导入线索池")
        upload = SimpleUploadedFile(name, data or files.xlsx_bytes(headers, rows))
        with TestCase.captureOnCommitCallbacks(execute=True):
            job = importing.import_start(
                actor=actor,
                kind=kind,
                upload=upload,
                options={"target": "pool", "pool_group": group.pk},
            )
        job.refresh_from_db()
    return job


def remap(actor, job, mapping, add_options=False) -> ImportJob:
    with tenant_scope(actor.tenant_id), TestCase.captureOnCommitCallbacks(execute=True):
        job = importing.import_remap(actor=actor, job=job, mapping=mapping, add_options=add_options)
    job.refresh_from_db()
    return job


def confirm(actor, job) -> ImportJob:
    with tenant_scope(actor.tenant_id), TestCase.captureOnCommitCallbacks(execute=True):
        importing.import_confirm(actor=actor, job=job)
    job.refresh_from_db()
    return job


def columns(job) -> list[tuple[str, str, str]]:
    """(header, key, source) of each column of the mapping step."""
    return [(c["header"], c["key"], c["source"]) for c in job.summary["mapping_columns"]]


def customers(tenant) -> list[str]:
    with scopes_disabled():
        return sorted(Customer.objects.filter(tenant=tenant).values_list("name", flat=True))


def mappings(tenant) -> int:
    with scopes_disabled():
        return ImportMapping.objects.filter(tenant=tenant).count()


UNKNOWN = ["单位全称", "联系人", "微信号"]
ROWS = [["甲机械有限公司", "王经理", "wx1"], ["乙机械有限公司", "李经理", "wx2"]]


# ---------------------------------------------------------------- automatic recognition


def test_auto_recognition_describes_every_column_with_samples(world):
    job = start(world.admin_a, ["客户名称", "联系人", "微信号"], ROWS)
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    assert columns(job) == [
        ("客户名称", "name", "auto"),
        ("联系人", "contact_name", "auto"),
        ("微信号", "", "none"),
    ]
    first = job.summary["mapping_columns"][0]
    assert first["samples"] == ["甲机械有限公司", "乙机械有限公司"]
    assert first["label"] == "Customer name" and first["index"] == 0
    assert job.summary["unknown_columns"] == ["微信号"]
    assert "sheet" in job.summary and job.summary["create"] == 2
    assert not job.summary.get("mapping_errors")


def test_a_field_named_by_two_headers_goes_to_the_first_the_other_is_noted(world):
    """Was: the whole file refused as “the column appears twice”."""
    job = start(world.admin_a, ["客户名称", "备注", "说明"], [["甲公司", "一", "二"]])
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    assert columns(job) == [
        ("客户名称", "name", "auto"),
        ("备注", "remark", "auto"),
        ("说明", "", "none"),
    ]
    assert "column 2" in job.summary["mapping_columns"][2]["note"]
    assert job.summary["create"] == 1
    confirm(world.admin_a, job)
    with scopes_disabled():
        assert Customer.objects.get(tenant=world.tenant_a).remark == "一"


def test_match_headers_no_longer_raises_on_a_repeated_field(world):
    with tenant_scope(world.tenant_a.pk):
        cols = importing.importer_for("customers").columns(world.tenant_a.pk)
    mapping, unknown = importing.match_headers(["客户名称", "备注", "说明", "微信"], cols)
    assert mapping == {"name": 0, "remark": 1} and unknown == ["微信"]


# ---------------------------------------------------------------- a required field without a column


def test_a_missing_required_column_shows_the_mapping_step_and_nothing_can_be_confirmed(world):
    job = start(world.admin_a, UNKNOWN, ROWS)
    assert job.status == ImportJob.Status.PREVIEWED and not job.plan
    assert job.summary["mapping_errors"] == [
        "Choose a column for Customer name in “Column mapping”."
    ]
    assert columns(job)[0] == ("单位全称", "", "none")
    with tenant_scope(world.tenant_a.pk):
        assert importing.running_job(world.tenant_a.pk) is None  # the slot is free
    with pytest.raises(ServiceError, match="Customer name"):
        confirm(world.admin_a, job)
    assert customers(world.tenant_a) == []

    # The mapping step fixes it: the dry run is computed with the new mapping.
    job = remap(world.admin_a, job, {"0": "name", "1": "contact_name", "2": ""})
    assert job.status == ImportJob.Status.PREVIEWED and job.plan, job.message
    assert not job.summary.get("mapping_errors") and job.message == ""
    assert (job.summary["create"], job.summary["reject"]) == (2, 0)
    assert columns(job) == [
        ("单位全称", "name", "user"),
        ("联系人", "contact_name", "auto"),
        ("微信号", "", "none"),
    ]
    assert customers(world.tenant_a) == []  # still nothing written
    confirm(world.admin_a, job)
    assert customers(world.tenant_a) == ["乙机械有限公司", "甲机械有限公司"]


# ---------------------------------------------------------------- remembered


def test_the_mapping_is_remembered_per_tenant_and_header_row(world):
    job = start(world.admin_a, UNKNOWN, ROWS)
    remap(world.admin_a, job, {"0": "name", "1": "contact_name", "2": "remark"})
    with scopes_disabled():
        saved = ImportMapping.objects.get(tenant=world.tenant_a)
    assert saved.kind == "customers" and saved.updated_by == world.admin_a
    assert saved.mapping == {"0": "name", "1": "contact_name", "2": "remark"}
    assert saved.signature == importing.header_signature(UNKNOWN)

    # The same header row again: mapped without asking.
    again = start(world.admin_a, UNKNOWN, [["丙公司", "赵", "wx3"]], name="另一个.xlsx")
    assert again.status == ImportJob.Status.PREVIEWED and again.plan
    assert columns(again) == [
        ("单位全称", "name", "remembered"),
        ("联系人", "contact_name", "remembered"),
        ("微信号", "remark", "remembered"),
    ]
    assert again.summary["create"] == 1

    # Another header set: not offered.
    other = start(world.admin_a, [*UNKNOWN, "备注"], [["丁公司", "", "", ""]])
    assert other.summary["mapping_errors"] and columns(other)[0][2] == "none"

    # Tenant B never sees tenant A's mapping.
    b = start(world.admin_b, UNKNOWN, ROWS)
    assert b.summary["mapping_errors"] and columns(b)[0] == ("单位全称", "", "none")
    assert mappings(world.tenant_b) == 0


def test_confirming_keeps_a_remembered_mapping_but_not_a_purely_automatic_one(world):
    job = confirm(world.admin_a, start(world.admin_a, ["客户名称", "联系人"], ROWS))
    assert job.status == ImportJob.Status.DONE
    assert mappings(world.tenant_a) == 0  # recognised automatically: nothing to remember

    job = start(world.admin_a, ["客户名称", "联系人"], [["戊公司", "钱"]])
    job = remap(world.admin_a, job, {"0": "name", "1": ""})
    with scopes_disabled():
        ImportMapping.objects.filter(tenant=world.tenant_a).delete()
    confirm(world.admin_a, job)
    with scopes_disabled():
        saved = ImportMapping.objects.get(tenant=world.tenant_a)
    assert saved.mapping == {"0": "name", "1": ""}


def test_the_users_mapping_wins_over_the_remembered_one(world):
    first = start(world.admin_a, UNKNOWN, ROWS)
    remap(world.admin_a, first, {"0": "name", "1": "contact_name", "2": "remark"})
    job = start(world.admin_a, UNKNOWN, ROWS)
    assert columns(job)[2] == ("微信号", "remark", "remembered")
    job = remap(world.admin_a, job, {"0": "name", "1": "contact_name", "2": ""})
    # Compared with automatic recognition: 单位全称 was chosen by hand.
    assert columns(job) == [
        ("单位全称", "name", "user"),
        ("联系人", "contact_name", "auto"),
        ("微信号", "", "none"),
    ]
    with scopes_disabled():
        assert ImportMapping.objects.get(tenant=world.tenant_a).mapping["2"] == ""


# ---------------------------------------------------------------- the dry run and add_options


def test_the_dry_run_is_recomputed_after_a_change(world):
    rows = [["甲公司", "13800138000"], ["乙公司", "123"]]
    job = start(world.admin_a, ["客户名称", "联系电话"], rows)
    assert (job.summary["create"], job.summary["reject"]) == (1, 1) and job.error_file
    old_plan = job.plan.name
    job = remap(world.admin_a, job, {"0": "name", "1": ""}, add_options=True)
    assert (job.summary["create"], job.summary["reject"]) == (2, 0)
    assert not job.error_file and job.plan.name != old_plan
    assert job.options["mapping"] == {"0": "name", "1": ""}
    assert job.options["add_options"] is True
    assert customers(world.tenant_a) == []


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "mapping, message",
    [
        (
            {"0": "name", "1": "contact_name", "2": "contact_name"},
            "“联系人” and “微信号” both go to “Contact name”; a field takes one column only.",
        ),
        ({"0": "", "1": "contact_name"}, "Choose a column for Customer name"),
        ({"0": "name", "1": "wechat"}, "“wechat” is not a field of this import."),
        ({"0": "name", "7": "remark"}, "The file has no such column."),
    ],
)
def test_remap_refusals_change_nothing(world, mapping, message):
    job = start(world.admin_a, UNKNOWN, ROWS)
    with pytest.raises(ServiceError) as refused:
        remap(world.admin_a, job, mapping)
    assert message in str(refused.value.message)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED and "mapping" not in job.options
    assert mappings(world.tenant_a) == 0 and customers(world.tenant_a) == []


def test_remap_only_by_its_importer_and_only_while_waiting(world):
    job = start(world.admin_a, UNKNOWN, ROWS)
    with pytest.raises(NotVisibleError):
        remap(world.admin_b, job, {"0": "name"})
    with pytest.raises(PermissionRefusedError):  # a rep may not import at all
        remap(world.rep_east, job, {"0": "name"})
    done = confirm(world.admin_a, remap(world.admin_a, job, {"0": "name"}))
    assert done.status == ImportJob.Status.DONE
    with pytest.raises(ServiceError, match="waits for confirmation"):
        remap(world.admin_a, done, {"0": "name"})


# ---------------------------------------------------------------- point 6: the templates


@pytest.mark.parametrize(
    "kind, url",
    [
        (ImportJob.Kind.CUSTOMERS, "customers:import-template"),
        (ImportJob.Kind.LEADS, "leads:lead-import-template"),
    ],
)
def test_a_downloaded_template_uploaded_again_needs_no_mapping(world, login, kind, url):
    client = login(world.admin_a)
    template = client.get(reverse(url))
    assert template.status_code == 200
    job = start(world.admin_a, None, None, kind=kind, name="模板.xlsx", data=template.content)
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    assert not job.summary.get("mapping_errors")
    described = job.summary["mapping_columns"]
    with tenant_scope(world.tenant_a.pk):
        expected = [c.key for c in importing.importer_for(kind).columns(world.tenant_a.pk)]
    assert [c["key"] for c in described] == expected
    assert {c["source"] for c in described} == {"auto"}
    assert all("*" not in c["key"] for c in described)
    assert job.summary["total"] == 1  # the sample row


# ---------------------------------------------------------------- the page and the URL


def test_the_preview_page_shows_the_mapping_step_and_posts_it(world, login):
    job = start(world.admin_a, UNKNOWN, ROWS)
    client = login(world.admin_a)
    page = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert 'id="mapping-form"' in page and 'name="col-0"' in page
    assert 'data-badge="auto"' in page and "data-mapping-error" in page
    assert "甲机械有限公司" in page  # first values
    assert 'id="confirm-import" disabled' in page
    response = client.post(
        reverse("crm:import-remap", args=[job.pk]),
        {"col-0": "name", "col-1": "contact_name", "col-2": "", "add_options": "on"},
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.summary["create"] == 2 and job.options["add_options"] is True
    page = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert 'data-badge="user"' in page and "data-mapping-error" not in page


def test_the_remap_url_is_not_found_for_someone_elses_job(world, login):
    job = start(world.admin_a, UNKNOWN, ROWS)
    client = login(world.rep_east)
    response = client.post(reverse("crm:import-remap", args=[job.pk]), {"col-0": "name"})
    assert response.status_code == 404
    assert client.get(reverse("crm:import-remap", args=[job.pk])).status_code == 405
    job.refresh_from_db()
    assert "mapping" not in job.options and mappings(world.tenant_a) == 0


def test_a_file_whose_column_names_are_all_unknown_reaches_the_mapping_step(world):
    """Another system's export none of whose names is known: the reader takes its first row of
    text cells as the header, the mapping step shows every column as 不导入 and asks for the
    name; once mapped by hand the rows are checked and imported, and the same header row is
    mapped without asking next time."""
    headers = ["单位全称", "移动电话号", "微信号"]
    rows = [["丙机械有限公司", "13800138001", "wx3"], ["丁机械有限公司", "13800138002", "wx4"]]
    job = start(world.admin_a, headers, rows)
    assert job.status == ImportJob.Status.PREVIEWED and job.summary["mapping_errors"]
    assert columns(job) == [(h, "", "none") for h in headers]
    job = remap(world.admin_a, job, {"0": "name", "1": "contact_mobile", "2": ""})
    assert not job.summary.get("mapping_errors") and job.summary["create"] == 2
    confirm(world.admin_a, job)
    assert customers(world.tenant_a) == ["丁机械有限公司", "丙机械有限公司"]
    again = start(world.admin_a, headers, [["戊机械有限公司", "13800138003", "wx5"]])
    assert [(key, source) for _h, key, source in columns(again)] == [
        ("name", "remembered"),
        ("contact_mobile", "remembered"),
        ("", "none"),  # 不导入, as chosen
    ]
    assert again.summary["create"] == 1
