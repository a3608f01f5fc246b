"""The product URLs' tenant isolation (products helper), as tests/crm/test_url_matrix.py
checks every module: an object of tenant B requested by tenant A's admin (every right) is a
404 for GET and POST, and the same URL works for B's admin. ``PRODUCT_MATRIX`` is meant to
join that file's ``MATRIX`` (its missing-object URL must replace ``key`` instead of ``pk``
for the import URLs: ``missing_kwargs`` here)."""

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from opportunities.models import ProductImage
from tests.opportunities.factories import make_category, make_product


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _product_b(w):
    return make_product(w.tenant_b, "乙的产品", code="B-1")


def _product_image_b(w):
    from django.core.files.base import ContentFile

    image = ProductImage(tenant_id=w.tenant_b.pk, product=_product_b(w))
    image.file.save("a.png", ContentFile(b"\x89PNG\r\n\x1a\n0"), save=False)
    image.save()
    return image


def _pending_import_b(w, *, bad=False):
    """A catalogue import of tenant B's admin waiting for confirmation (its key)."""
    from crm.tenancy import tenant_scope
    from opportunities import importing

    with tenant_scope(w.tenant_b.pk):
        data = importing.template_file(tenant_id=w.tenant_b.pk)
        if bad:  # a row without 产品名称: the preview lists an error, the error file exists
            import io

            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(data))
            book.worksheets[0].append(["B-2", "", "配件", "", "", "", "1"])
            out = io.BytesIO()
            book.save(out)
            data = out.getvalue()
        outcome = importing.import_check(actor=w.admin_b, data=data, file_name="乙.xlsx")
        return importing.pending_save(
            actor=w.admin_b, data=data, file_name="乙.xlsx", outcome=outcome
        )


PRODUCT_MATRIX = {
    "opportunities:product-detail": lambda w: {"pk": _product_b(w).pk},
    "opportunities:product-edit": lambda w: {"pk": _product_b(w).pk},
    "opportunities:product-stock": lambda w: {"pk": _product_b(w).pk},
    "opportunities:product-delete": lambda w: {"pk": _product_b(w).pk},
    "opportunities:product-image": lambda w: {"pk": _product_image_b(w).pk},
    "opportunities:product-image-delete": lambda w: {"pk": _product_image_b(w).pk},
    "opportunities:category-rename": lambda w: {"pk": make_category(w.tenant_b, "乙类").pk},
    "opportunities:category-move": lambda w: {"pk": make_category(w.tenant_b, "乙类").pk},
    "opportunities:category-delete": lambda w: {"pk": make_category(w.tenant_b, "乙类").pk},
    "opportunities:product-import-preview": lambda w: {"key": _pending_import_b(w)},
    "opportunities:product-import-confirm": lambda w: {"key": _pending_import_b(w)},
    "opportunities:product-import-errors": lambda w: {"key": _pending_import_b(w, bad=True)},
}


def missing_kwargs(kwargs):
    if "key" in kwargs:
        return {**kwargs, "key": "x" * 24}
    return {**kwargs, "pk": 999_999_999}


@pytest.mark.parametrize("name", sorted(PRODUCT_MATRIX))
def test_other_tenants_product_object_is_404(name, world, login):
    with scopes_disabled():
        kwargs = PRODUCT_MATRIX[name](world)
    url = reverse(name, kwargs=kwargs)
    missing_url = reverse(name, kwargs=missing_kwargs(kwargs))
    client = login(world.admin_a)
    get_status = client.get(url).status_code
    assert get_status in (404, 405)
    assert get_status == client.get(missing_url).status_code
    post = client.post(url, {"name": "x", "label": "x", "parent": "", "direction": "up"})
    assert post.status_code == 404
    assert client.post(url, {}, HTTP_HX_REQUEST="true").status_code == 404


@pytest.mark.parametrize("name", sorted(PRODUCT_MATRIX))
def test_own_tenants_product_object_is_reachable(name, world, login):
    with scopes_disabled():
        kwargs = PRODUCT_MATRIX[name](world)
    client = login(world.admin_b)
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {"direction": "up"})
    assert response.status_code in (200, 302), response.status_code
