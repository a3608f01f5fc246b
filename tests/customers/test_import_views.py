"""The import pages: start form, template download, preview, confirm, progress, result,
error file and undo, with permissions and tenant isolation."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_scopes import scopes_disabled
from python_calamine import CalamineWorkbook

from crm.models import ImportJob
from customers.models import Customer
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.pools.factories import make_group


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _post(client, group, rows, **extra):
    data = files.xlsx_bytes(["客户名称", "联系电话"], rows)
    payload = {
        "file": SimpleUploadedFile("名单.xlsx", data),
        "target": "pool",
        "pool_group": group.pk,
        "distribution": "even",
        "duplicate_mode": "skip",
        "duplicate_keys": "either",
        **extra,
    }
    return client.post(reverse("customers:import-start"), payload)


def _job() -> ImportJob:
    with scopes_disabled():
        return ImportJob.objects.get()


def test_start_page_and_template_need_the_import_permission(world, login):
    client = login(world.rep_east)
    assert client.get(reverse("customers:import-start")).status_code == 403
    assert client.get(reverse("customers:import-template")).status_code == 403
    client = login(world.admin_a)
    page = client.get(reverse("customers:import-start") + "?target=pool")
    assert page.status_code == 200
    template = client.get(reverse("customers:import-template"))
    assert template.status_code == 200
    assert template["Content-Type"].startswith("application/vnd.openxmlformats")
    book = CalamineWorkbook.from_filelike(io.BytesIO(template.content))
    assert len(book.sheet_names) == 2


def test_upload_preview_confirm_result_and_error_file(world, login):
    group = with_group(world)
    client = login(world.admin_a)
    response = _post(client, group, [["甲公司", "13800138000"], ["乙公司", "123"]])
    job = _job()
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:import-detail", args=[job.pk])

    preview = client.get(response["Location"])
    body = preview.content.decode()
    assert 'id="count-create">1<' in body and 'id="count-reject">1<' in body
    assert "123" in body  # the rejected row's reason
    with scopes_disabled():
        assert not Customer.objects.exists()

    errors = client.get(reverse("crm:import-errors", args=[job.pk]))
    assert errors.status_code == 200
    table = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(errors.streaming_content)))
    rows = table.get_sheet_by_index(0).to_python()
    assert rows[1][0] == "乙公司" and rows[1][-1]

    done = client.post(reverse("crm:import-confirm", args=[job.pk]), follow=True)
    body = done.content.decode()
    assert 'id="count-created">1<' in body and 'id="count-failed">1<' in body
    assert 'id="undo-import"' in body
    with scopes_disabled():
        created = Customer.objects.get()
    # The result links to the imported customers; the list filters by the import.
    listed = client.get(f"/customers/?view=all&import_job={job.pk}")
    assert listed.status_code == 200

    progress = client.get(reverse("crm:import-progress", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert progress.status_code == 200 and progress["HX-Refresh"] == "true"

    client.post(reverse("crm:import-undo", args=[job.pk]))
    with scopes_disabled():
        assert not Customer.objects.filter(pk=created.pk).exists()
        assert ImportJob.objects.get().status == ImportJob.Status.UNDONE


def with_group(world):
    return make_group(world.tenant_a, "全公司公海", open_to_all=True)


def test_a_running_import_shows_its_progress_bar(world, login):
    group = with_group(world)
    client = login(world.admin_a)
    _post(client, group, [["甲公司", ""]])
    job = _job()
    with scopes_disabled():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.APPLYING, progress_done=30, progress_total=120
        )
    body = client.get(reverse("crm:import-detail", args=[job.pk])).content.decode()
    assert 'aria-valuenow="25"' in body and "hx-get" in body
    fragment = client.get(reverse("crm:import-progress", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in fragment and 'aria-valuenow="25"' in fragment.content.decode()


def test_form_errors_are_shown_in_the_users_language(world, login):
    group = with_group(world)
    client = login(world.admin_a)
    response = client.post(
        reverse("customers:import-start"),
        {
            "file": SimpleUploadedFile("名单.txt", b"hello"),
            "target": "pool",
            "pool_group": group.pk,
            "distribution": "even",
            "duplicate_mode": "skip",
            "duplicate_keys": "either",
        },
    )
    assert response.status_code == 200
    assert "名单.txt" in response.content.decode()
    with scopes_disabled():
        assert not ImportJob.objects.exists()


def test_jobs_are_invisible_to_reps_and_other_tenants(world, login):
    group = with_group(world)
    _post(login(world.admin_a), group, [["甲公司", ""]])
    job = _job()
    for url in ("crm:import-detail", "crm:import-errors", "crm:import-progress"):
        assert login(world.rep_east).get(reverse(url, args=[job.pk])).status_code == 404
        assert login(world.admin_b).get(reverse(url, args=[job.pk])).status_code == 404
    for url in ("crm:import-confirm", "crm:import-cancel", "crm:import-undo"):
        assert login(world.admin_b).post(reverse(url, args=[job.pk])).status_code == 404
    with scopes_disabled():
        assert ImportJob.objects.get().status == ImportJob.Status.PREVIEWED
        default_group_for(world.tenant_b.pk, "customer")


def test_contact_details_of_customers_imported_into_a_pool_stay_hidden_until_claimed(world, login):
    group = with_group(world)
    client = login(world.admin_a)
    _post(client, group, [["甲公司", "13800138000"]])
    client.post(reverse("crm:import-confirm", args=[_job().pk]))
    with scopes_disabled():
        customer = Customer.objects.get()
    rep = login(world.rep_east)
    for url in (
        reverse("customers:customer-detail", args=[customer.pk]),
        reverse("customers:customer-tab", args=[customer.pk, "contacts"]),
        reverse("customers:pool-list") + f"?group={group.pk}",
    ):
        page = rep.get(url)
        assert page.status_code == 200 and "13800138000" not in page.content.decode()
    rep.post(reverse("customers:pool-claim"), {"ids": [customer.pk]})
    page = rep.get(reverse("customers:customer-tab", args=[customer.pk, "contacts"]))
    assert "13800138000" in page.content.decode()
