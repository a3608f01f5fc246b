"""Uploaded files (issue 15): never served by a static or media route, stored under random
names with the original name beside them, and a request body limit checked before anything
is written to disk, answered in the user's language."""

from __future__ import annotations

import importlib
import re
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase, override_settings
from django.urls import Resolver404, clear_url_caches, resolve, reverse, set_urlconf
from django.utils import translation
from django_scopes import scopes_disabled

from crm import importing, uploads
from crm.models import ImportJob
from customers.models import Attachment
from pools.services import default_group_for
from tests.crm import spreadsheet_files as files
from tests.customers.factories import make_customer

RANDOM_NAME = re.compile(r"[0-9a-f]{32}(\.[a-z0-9]{1,8})?")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload_attachment(client, customer, name: str, content: bytes):
    return client.post(
        reverse("customers:attachment-create", args=[customer.pk]),
        {"file": SimpleUploadedFile(name, content, content_type="application/pdf")},
    )


def only_attachment(customer) -> Attachment:
    with scopes_disabled():
        return Attachment.objects.get(customer=customer)


@pytest.fixture
def debug_urls():
    """The URLconf as DEBUG on builds it (crm.urls is read again), restored afterwards."""
    import crm.urls

    def reload() -> None:
        importlib.reload(crm.urls)
        clear_url_caches()
        set_urlconf(None)

    with override_settings(DEBUG=True):
        reload()
        yield
    reload()


# --- no route to MEDIA_ROOT ------------------------------------------------------------------


def test_an_uploaded_file_is_not_served_under_media_url_with_debug_on(
    world, as_user, client, debug_urls, settings
):
    customer = make_customer(world.tenant_a, world.rep_east)
    upload_attachment(as_user(world.rep_east), customer, "报价单.pdf", b"%PDF-1.4 secret\n")
    attachment = only_attachment(customer)
    assert (Path(settings.MEDIA_ROOT) / attachment.file.name).exists()
    path = f"/{settings.MEDIA_URL.strip('/')}/{attachment.file.name}"
    with pytest.raises(Resolver404):
        resolve(path)
    for who in (client, as_user(world.rep_east), as_user(world.admin_b)):
        assert who.get(path).status_code == 404
        # Nor by a detour through the static route.
        assert who.get(f"/static/../media/{attachment.file.name}").status_code == 404
    # The view that checks visibility is the way to the file.
    response = as_user(world.rep_east).get(
        reverse("customers:attachment-download", args=[attachment.pk])
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 secret\n"
    assert (
        as_user(world.admin_b)
        .get(reverse("customers:attachment-download", args=[attachment.pk]))
        .status_code
        == 404
    )


def test_media_root_is_outside_every_static_folder(settings):
    assert uploads.check_media_not_served() == []
    settings.MEDIA_ROOT = Path(settings.STATICFILES_DIRS[0]) / "uploads"
    errors = uploads.check_media_not_served()
    assert [e.id for e in errors] == ["tidepool.E001"]
    assert "STATICFILES_DIRS" in errors[0].msg
    settings.MEDIA_ROOT = settings.STATIC_ROOT
    assert [e.id for e in uploads.check_media_not_served()] == ["tidepool.E001"]


# --- random names on disk, the original name in the download -----------------------------------


def test_an_attachment_is_stored_under_a_random_name_and_downloaded_under_its_own(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east)
    client = as_user(world.rep_east)
    upload_attachment(client, customer, "合同 2024（终稿）.pdf", b"%PDF-1.4 contract\n")
    attachment = only_attachment(customer)
    stored = PurePosixPath(attachment.file.name)
    assert stored.parent == PurePosixPath(f"tenants/{world.tenant_a.pk}/customers/{customer.pk}")
    assert RANDOM_NAME.fullmatch(stored.name) and stored.suffix == ".pdf"
    assert "合同" not in attachment.file.name and "2024" not in stored.name
    assert attachment.original_name == "合同 2024（终稿）.pdf"
    response = client.get(reverse("customers:attachment-download", args=[attachment.pk]))
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=utf-8''{quote('合同 2024（终稿）.pdf')}" in disposition


def test_a_second_file_of_the_same_name_gets_another_random_name(world, as_user):
    customer = make_customer(world.tenant_a, world.rep_east)
    client = as_user(world.rep_east)
    upload_attachment(client, customer, "报价单.pdf", b"%PDF-1.4 one\n")
    upload_attachment(client, customer, "报价单.pdf", b"%PDF-1.4 two\n")
    with scopes_disabled():
        names = [a.file.name for a in Attachment.objects.filter(customer=customer)]
    assert len(set(names)) == 2 and all(RANDOM_NAME.fullmatch(n.rsplit("/", 1)[1]) for n in names)


def test_import_files_are_stored_under_random_names(world, as_user):
    from crm.tenancy import tenant_scope

    rows = [["甲公司", "", "13800138000"], ["", "", "not a phone"]]
    upload = SimpleUploadedFile(
        "华东客户.xlsx", files.xlsx_bytes(["客户名称", "联系人", "联系电话"], rows)
    )
    with tenant_scope(world.tenant_a.pk), translation.override("en"):
        with TestCase.captureOnCommitCallbacks(execute=True):
            job = importing.import_start(
                actor=world.admin_a,
                kind=ImportJob.Kind.CUSTOMERS,
                upload=upload,
                options={
                    "target": "pool",
                    "pool_group": default_group_for(world.tenant_a.pk, "customer").pk,
                },
            )
        job.refresh_from_db()
    assert job.original_name == "华东客户.xlsx"
    for stored in (job.file, job.plan, job.error_file):
        folder, name = stored.name.rsplit("/", 1)
        assert folder == f"tenants/{world.tenant_a.pk}/imports/{job.token}"
        assert RANDOM_NAME.fullmatch(name)
    client = as_user(world.admin_a)
    response = client.get(reverse("crm:import-errors", args=[job.pk]))
    assert quote("华东客户-errors.xlsx") in response["Content-Disposition"]
    assert b"".join(response.streaming_content)[:2] == b"PK"
    # A file gone from the disk is a 404, not an error page.
    Path(job.error_file.path).unlink()
    assert client.get(reverse("crm:import-errors", args=[job.pk])).status_code == 404


# --- the request body limit --------------------------------------------------------------------


@pytest.fixture
def small_limit(settings):
    settings.UPLOAD_MAX_BYTES = 300 * 1024
    return settings.UPLOAD_MAX_BYTES


def test_an_upload_declared_over_the_limit_is_refused_before_reading(world, as_user, small_limit):
    customer = make_customer(world.tenant_a, world.rep_east)
    content = b"%PDF-1.4 " + bytes(small_limit + uploads.FORM_OVERHEAD_BYTES)
    response = upload_attachment(as_user(world.rep_east), customer, "大文件.pdf", content)
    assert response.status_code == 413
    text = response.content.decode()
    assert (
        "The upload is larger than 0.292969 MB, the most a file may be: nothing was saved."
    ) in text
    with scopes_disabled():
        assert not Attachment.objects.filter(customer=customer).exists()


def test_the_refusal_is_in_chinese_by_default(world, client, small_limit):
    from tests.factories import PASSWORD

    customer = make_customer(world.tenant_a, world.rep_east)
    assert client.login(username=world.rep_east.username, password=PASSWORD)
    response = upload_attachment(client, customer, "大文件.pdf", bytes(2 * small_limit))
    assert response.status_code == 413
    assert response.wsgi_request.LANGUAGE_CODE == "zh-hans"
    with translation.override("zh-hans"):
        expected = uploads.upload_too_large_message(small_limit)
    assert expected in response.content.decode()


def test_an_htmx_upload_over_the_limit_gets_the_message_out_of_band(world, as_user, small_limit):
    customer = make_customer(world.tenant_a, world.rep_east)
    response = as_user(world.rep_east).post(
        reverse("customers:attachment-create", args=[customer.pk]),
        {"file": SimpleUploadedFile("大文件.pdf", bytes(2 * small_limit))},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert response["HX-Reswap"] == "none"
    assert 'hx-swap-oob="true"' in response.content.decode()
    assert "The upload is larger than" in response.content.decode()


def test_files_over_the_limit_within_the_declared_length_are_stopped_while_counted(
    world, as_user, small_limit, settings, tmp_path
):
    """The body is under the Content-Length limit (a little form overhead is allowed) but
    its files are over UPLOAD_MAX_BYTES: the guard counts the bytes and stops, the
    temporary file already begun is deleted, nothing is saved."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # larger files go to a temporary file
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads-tmp")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    customer = make_customer(world.tenant_a, world.rep_east)
    response = upload_attachment(
        as_user(world.rep_east), customer, "大文件.pdf", bytes(small_limit + 1000)
    )
    assert response.status_code == 413
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []
    with scopes_disabled():
        assert not Attachment.objects.filter(customer=customer).exists()


def test_an_upload_within_the_limit_is_stored(world, as_user, small_limit):
    customer = make_customer(world.tenant_a, world.rep_east)
    response = upload_attachment(
        as_user(world.rep_east), customer, "报价单.pdf", b"%PDF-1.4 " + bytes(small_limit - 100)
    )
    assert response.status_code in (200, 302)
    assert only_attachment(customer).size == small_limit - 100 + 9


def test_the_limit_is_set_deliberately():
    from django.conf import settings

    assert settings.FILE_UPLOAD_HANDLERS[0] == "crm.uploads.UploadLimitHandler"
    assert settings.UPLOAD_MAX_BYTES == 100 * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    assert settings.IMPORT_MAX_BYTES <= settings.UPLOAD_MAX_BYTES
