"""The lead import pages: the start page (导入线索) and template for lead.import, the
upload leading into crm's job pages (preview, error file, confirm, result, undo) for a
second kind of import, and tenant isolation of lead import jobs."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_scopes import scopes_disabled
from python_calamine import CalamineWorkbook

from crm.models import ImportJob
from leads.models import Lead
from tests.crm import spreadsheet_files as files
from tests.leads.factories import make_lead_pool


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _post(client, pool, rows, **extra):
    data = files.xlsx_bytes(["姓名", "公司名称", "手机"], rows)
    payload = {
        "file": SimpleUploadedFile("线索.xlsx", data),
        "target": "pool",
        "pool_group": pool.pk,
        "distribution": "even",
        "duplicate_mode": "skip",
        "duplicate_keys": "either",
        **extra,
    }
    return client.post(reverse("leads:lead-import"), payload)


def _job() -> ImportJob:
    with scopes_disabled():
        return ImportJob.objects.get()


@pytest.mark.parametrize("persona", ["rep_east", "manager_sales"])
def test_start_page_and_template_need_lead_import(world, login, persona):
    client = login(getattr(world, persona))
    assert client.get(reverse("leads:lead-import")).status_code == 403
    assert client.get(reverse("leads:lead-import-template")).status_code == 403
    assert _post(client, make_lead_pool(world.tenant_a), [["甲", "", ""]]).status_code == 403


def test_start_page_offers_only_lead_pools_and_the_template_downloads(world, login):
    from tests.pools.factories import make_group

    lead_pool = make_lead_pool(world.tenant_a, "线索池甲")
    make_group(world.tenant_a, "客户公海乙")
    client = login(world.admin_a)
    page = client.get(reverse("leads:lead-import") + f"?target=pool&group={lead_pool.pk}")
    body = page.content.decode()
    assert page.status_code == 200
    assert "线索池甲" in body and "客户公海乙" not in body
    template = client.get(reverse("leads:lead-import-template"))
    assert template["Content-Type"].startswith("application/vnd.openxmlformats")
    book = CalamineWorkbook.from_filelike(io.BytesIO(template.content))
    assert book.get_sheet_by_index(0).to_python()[0][0] == "姓名*"


def test_upload_preview_errors_confirm_result_and_undo(world, login):
    pool = make_lead_pool(world.tenant_a, "线索池")
    client = login(world.admin_a)
    response = _post(client, pool, [["甲", "甲公司", "13800138000"], ["乙", "", "123"]])
    job = _job()
    assert job.kind == "leads"
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:import-detail", args=[job.pk])

    body = client.get(response["Location"]).content.decode()
    assert 'id="count-create">1<' in body and 'id="count-reject">1<' in body
    assert reverse("leads:lead-import") in body  # the breadcrumb of a lead import
    with scopes_disabled():
        assert not Lead.objects.exists()
    errors = client.get(reverse("crm:import-errors", args=[job.pk]))
    table = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(errors.streaming_content)))
    rows = table.get_sheet_by_index(0).to_python()
    assert rows[1][0] == "乙" and "123" in rows[1][-1]

    done = client.post(reverse("crm:import-confirm", args=[job.pk]), follow=True)
    body = done.content.decode()
    assert 'id="count-created">1<' in body and 'id="count-failed">1<' in body
    assert f"{reverse('leads:pool-list')}?group={pool.pk}" in body  # the result link
    assert 'id="undo-import"' in body

    undone = client.post(reverse("crm:import-undo", args=[job.pk]), follow=True)
    assert undone.status_code == 200
    with scopes_disabled():
        assert not Lead.objects.exists()
        assert ImportJob.objects.get().status == ImportJob.Status.UNDONE


def test_an_owned_import_links_to_the_lead_list_filtered_by_the_import(world, login):
    client = login(world.admin_a)
    _post(
        client,
        make_lead_pool(world.tenant_a),
        [["甲", "", ""]],
        target="users",
        users=[world.rep_east.pk],
    )
    job = _job()
    body = client.post(reverse("crm:import-confirm", args=[job.pk]), follow=True)
    assert f"import_job={job.pk}" in body.content.decode()


def test_form_errors_come_back_with_422(world, login):
    client = login(world.admin_a)
    response = _post(client, make_lead_pool(world.tenant_a), [["甲"]], target="users", users=[])
    assert response.status_code == 422
    with scopes_disabled():
        assert not ImportJob.objects.exists()


def test_another_tenants_lead_import_job_is_a_404(world, login):
    pool_b = make_lead_pool(world.tenant_b)
    _post(login(world.admin_b), pool_b, [["乙方", "", ""]])
    job = _job()
    client = login(world.admin_a)
    for name in ("crm:import-detail", "crm:import-progress", "crm:import-errors"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    for name in ("crm:import-confirm", "crm:import-cancel", "crm:import-undo"):
        assert client.post(reverse(name, args=[job.pk])).status_code == 404
    assert _job().status == ImportJob.Status.PREVIEWED


def test_a_lead_import_job_is_a_404_to_whoever_may_not_import_leads(world, login):
    from tests.factories import make_role

    role = make_role(world.tenant_a, "只导客户", "all", ["customer.import"])
    with scopes_disabled():
        world.rep_west.role = role
        world.rep_west.save()
    _post(login(world.admin_a), make_lead_pool(world.tenant_a), [["甲", "", ""]])
    job = _job()
    client = login(world.rep_west)
    assert client.get(reverse("crm:import-detail", args=[job.pk])).status_code == 404
