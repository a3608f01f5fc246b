"""Product pages (产品): the list (search, category tree with everything below, status chips,
sorts, 上架 / 下架 for the ticked rows), a product's page (fields, images, stock history),
create / edit with images, stock, category management, the catalogue import (check →
preview → confirm, error file, template) and export, and the picker fragment the
opportunity line editor embeds.

Every user of the tenant sees the catalogue; changing it takes ``product.manage``, importing
and exporting it ``product.import``. Thin views: parse, one selector, at most one service."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from django.views.decorators.http import require_POST

from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.views.base import tenant_view
from crm.views.exports import EXPORT_ONCE_VARY, export_response
from crm.views.lists import back_url, chips, offset_page, sort_headers
from crm.xlsx import XLSX_CONTENT_TYPE
from opportunities import catalogue
from opportunities import importing as catalogue_io
from opportunities.forms.products import (
    CategoryForm,
    CategoryMoveForm,
    ProductBatchForm,
    ProductFilter,
    ProductForm,
    ProductImportForm,
    StockForm,
)
from opportunities.models import Product, ProductImage
from opportunities.services import products as services

MANAGE = services.MANAGE
IMPORT = catalogue_io.PERMISSION

# The sortable columns: column → (label, sort, reverse sort, direction).
SORT_COLUMNS = {
    "code": (gettext_lazy("Product code"), "code", "-code", "asc"),
    "name": (gettext_lazy("Product name"), "name", "-name", "asc"),
    "price": (gettext_lazy("Standard price"), "price", "-price", "asc"),
    "stock": (pgettext_lazy("product catalogue", "Stock"), "stock", "-stock", "asc"),
    "created": (pgettext_lazy("product catalogue", "Created"), "created", "-created", "desc"),
}


# ---------------------------------------------------------------- list


def _list_context(request) -> dict:
    actor = request.user
    base = catalogue.product_base(actor=actor)
    filterset = ProductFilter(request.GET or None, queryset=base, request=request)
    valid = filterset.is_bound and filterset.is_valid()
    qs = filterset.qs if valid else base
    sort = request.GET.get("sort") or "name"
    if sort not in catalogue.SORTS:
        sort = "name"
    filtered = bool(valid and filterset.active_filters)
    total = qs.order_by().count()
    rows = catalogue.product_list(actor=actor, queryset=qs, sort=sort)
    page = offset_page(request, rows, total=total).counted(total)
    tree = filterset.tree
    current = filterset.chosen_category if valid else None
    names = {node.pk: node.name for node in tree}
    for product in page.items:
        product.category_path = catalogue.category_label(product.category, names)
    keep = {"category": current.pk if current else ""}
    return {
        "filter": filterset,
        "page": page,
        "total": total,
        "sort": sort,
        "sorts": catalogue.SORT_LABELS,
        "headers": sort_headers(request, sort, SORT_COLUMNS),
        "chips": chips(
            request,
            [
                ("on_sale", Product.Status.ON_SALE.label, {"status": Product.Status.ON_SALE}),
                ("off_sale", Product.Status.OFF_SALE.label, {"status": Product.Status.OFF_SALE}),
                ("vehicle", _("Vehicles"), {"is_vehicle": "true"}),
            ],
        ),
        "tree": tree,
        "current_category": current,
        "tree_links": _tree_links(request, tree),
        "keep": keep,
        "query": request.GET.urlencode(),
        "filtered": filtered,
        "may_manage": actor.can(MANAGE),
        "may_import": actor.can(IMPORT),
    }


def _tree_links(request, tree) -> dict[int | str, str]:
    """The tree's links: each keeps the search, status and sort, sets the category and
    starts at page 1 ("" is 全部分类)."""
    links = {}
    for pk in ["", *(node.pk for node in tree)]:
        query = request.GET.copy()
        for name in ("page", "category"):
            query.pop(name, None)
        if pk != "":
            query["category"] = str(pk)
        links[pk] = "?" + query.urlencode()
    return links


@tenant_view()
def product_list(request):
    context = _list_context(request)
    if request.htmx and request.htmx.target == "product-results":
        return render(request, "opportunities/product_list.html#results", context)
    return render(request, "opportunities/product_list.html", context)


@tenant_view(MANAGE)
@require_POST
def product_batch(request):
    """上架 / 下架 for the ticked products, all or none."""
    form = ProductBatchForm(request.POST)
    back = back_url(request, reverse("opportunities:product-list"))
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        messages.error(request, " ".join(map(str, errors)) or _("Select at least one product."))
        return redirect(back)
    ids, status = form.cleaned_data["ids"], form.cleaned_data["action"]
    try:
        services.product_status_set(actor=request.user, products=ids, status=status)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect(back)
    label = Product.Status(status).label
    messages.success(
        request,
        ngettext("%(status)s: %(count)d product.", "%(status)s: %(count)d products.", len(ids))
        % {"status": label, "count": len(ids)},
    )
    return redirect(back)


@tenant_view(IMPORT)
@require_POST
@once(vary=EXPORT_ONCE_VARY)
def product_export(request):
    return export_response(request, catalogue_io.EXPORT_KIND)


# ---------------------------------------------------------------- one product


@tenant_view()
def product_detail(request, pk: int):
    product = catalogue.product_get_for_actor(actor=request.user, pk=pk)
    names = catalogue.category_names(tenant_id=request.user.tenant_id)
    context = {
        "product": product,
        "category_path": catalogue.category_label(product.category, names),
        "images": list(ProductImage.objects.filter(tenant_id=product.tenant_id, product=product)),
        "stock_changes": catalogue.stock_history(product=product),
        "may_manage": request.user.can(MANAGE),
    }
    return render(request, "opportunities/product_detail.html", context)


def _form_page(request, product: Product | None):
    actor = request.user
    form = ProductForm(
        request.POST or None, request.FILES or None, tenant_id=actor.tenant_id, product=product
    )
    context = {"form": form, "product": product}
    if request.method != "POST":
        return render(request, "opportunities/product_form.html", context)
    if not form.is_valid():
        return render(request, "opportunities/product_form.html", context, status=422)
    images = form.cleaned_data.get("images") or []
    try:
        if product is None:
            data = {**form.data_for_service(), "stock": form.cleaned_data.get("stock")}
            saved = services.product_create(actor=actor, data=data, images=images)
        else:
            saved = services.product_update(
                actor=actor, product=product, data=form.data_for_service(), images=images
            )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "opportunities/product_form.html", context, status=422)
    messages.success(request, _("Saved: %(name)s") % {"name": saved})
    return redirect("opportunities:product-detail", pk=saved.pk)


@tenant_view(MANAGE)
@once
def product_create(request):
    return _form_page(request, None)


@tenant_view(MANAGE)
def product_edit(request, pk: int):
    product = catalogue.product_get_for_actor(actor=request.user, pk=pk)
    return _form_page(request, product)


@tenant_view(MANAGE)
def product_stock(request, pk: int):
    product = catalogue.product_get_for_actor(actor=request.user, pk=pk)
    form = StockForm(request.POST or None, initial={"stock": product.stock})
    context = {
        "form": form,
        "product": product,
        "stock_changes": catalogue.stock_history(product=product, limit=10),
    }
    if request.method != "POST":
        return render(request, "opportunities/product_stock.html", context)
    if not form.is_valid():
        return render(request, "opportunities/product_stock.html", context, status=422)
    try:
        services.product_stock_set(
            actor=request.user,
            product=product,
            stock=form.cleaned_data["stock"],
            note=form.cleaned_data["note"],
        )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "opportunities/product_stock.html", context, status=422)
    messages.success(request, _("The stock of %(name)s was saved.") % {"name": product})
    return redirect("opportunities:product-detail", pk=product.pk)


@tenant_view(MANAGE)
@require_POST
def product_delete(request, pk: int):
    product = catalogue.product_get_for_actor(actor=request.user, pk=pk)
    try:
        services.product_delete(actor=request.user, product=product)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect("opportunities:product-detail", pk=product.pk)
    messages.success(request, _("Deleted: %(name)s") % {"name": product})
    return redirect("opportunities:product-list")


def _image_for(request, pk: int) -> ProductImage:
    """SECURITY: an image is served to users of its tenant only (the catalogue is
    tenant-wide); another tenant's is a 404 like a missing one."""
    return get_object_or_404(ProductImage.objects.filter(tenant_id=request.user.tenant_id), pk=pk)


@tenant_view()
def product_image(request, pk: int):
    image = _image_for(request, pk)
    try:
        handle = image.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(handle, content_type=_image_type(image.file.name))
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _image_type(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower()
    return {
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
    }.get(extension, "application/octet-stream")


@tenant_view(MANAGE)
@require_POST
def product_image_delete(request, pk: int):
    image = _image_for(request, pk)
    product_pk = image.product_id
    services.product_image_delete(actor=request.user, image=image)
    messages.success(request, _("The image was deleted."))
    return redirect("opportunities:product-edit", pk=product_pk)


# ---------------------------------------------------------------- categories


def _category_context(request, form=None, move_forms=None) -> dict:
    tenant_id = request.user.tenant_id
    tree = catalogue.category_tree(tenant_id=tenant_id, with_counts=True)
    return {
        "tree": tree,
        "form": form or CategoryForm(tenant_id=tenant_id),
        "may_manage": request.user.can(MANAGE),
        "move_form": move_forms or CategoryMoveForm(tenant_id=tenant_id),
    }


@tenant_view()
@once  # the add form: a double click adds the category once (the second gets the first answer)
def category_list(request):
    """The tree with each category's products; with product.manage, the add form (POST)
    and the rename / move / delete actions."""
    if request.method == "POST":
        if not request.user.can(MANAGE):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        form = CategoryForm(request.POST, tenant_id=request.user.tenant_id)
        if form.is_valid():
            try:
                category = services.category_create(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    parent=form.cleaned_data["parent"],
                    sort=form.cleaned_data.get("sort") or 0,
                )
            except ServiceError as exc:
                form.add_error(None, str(exc.message))
            else:
                messages.success(request, _("Category added: %(name)s") % {"name": category})
                return redirect("opportunities:category-list")
        return render(
            request,
            "opportunities/category_list.html",
            _category_context(request, form),
            status=422,
        )
    return render(request, "opportunities/category_list.html", _category_context(request))


@tenant_view(MANAGE)
@require_POST
def category_rename(request, pk: int):
    category = catalogue.category_get(actor=request.user, pk=pk)
    sort = request.POST.get("sort", "")
    try:
        services.category_update(
            actor=request.user,
            category=category,
            name=request.POST.get("name", ""),
            sort=int(sort) if sort.lstrip("-").isdigit() else None,
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Category saved: %(name)s") % {"name": category.name})
    return redirect("opportunities:category-list")


@tenant_view(MANAGE)
@require_POST
def category_move(request, pk: int):
    category = catalogue.category_get(actor=request.user, pk=pk)
    form = CategoryMoveForm(request.POST, tenant_id=request.user.tenant_id)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("opportunities:category-list")
    try:
        services.category_move(
            actor=request.user, category=category, parent=form.cleaned_data["parent"]
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Category moved: %(name)s") % {"name": category.name})
    return redirect("opportunities:category-list")


@tenant_view(MANAGE)
@require_POST
def category_delete(request, pk: int):
    category = catalogue.category_get(actor=request.user, pk=pk)
    try:
        services.category_delete(actor=request.user, category=category)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Category deleted: %(name)s") % {"name": category.name})
    return redirect("opportunities:category-list")


# ---------------------------------------------------------------- import


@tenant_view(IMPORT)
def product_import(request):
    """Upload: the file is checked (a dry run: nothing is written) and kept for the
    preview, where it is confirmed."""
    form = ProductImportForm(request.POST or None, request.FILES or None)
    context = {"form": form}
    if request.method != "POST":
        return render(request, "opportunities/product_import.html", context)
    if not form.is_valid():
        return render(request, "opportunities/product_import.html", context, status=422)
    upload = form.cleaned_data["file"]
    if upload.size > catalogue_io.MAX_BYTES:
        form.add_error("file", _("The file is larger than 20 MB."))
        return render(request, "opportunities/product_import.html", context, status=422)
    data = upload.read()
    name = (upload.name or "import.xlsx")[:200]
    outcome = catalogue_io.import_check(actor=request.user, data=data, file_name=name)
    if outcome.file_errors and not outcome.total:
        for error in outcome.file_errors:
            form.add_error("file", error)
        return render(request, "opportunities/product_import.html", context, status=422)
    key = catalogue_io.pending_save(actor=request.user, data=data, file_name=name, outcome=outcome)
    return redirect("opportunities:product-import-preview", key=key)


def _preview(request, key: str, outcome=None, status: int = 200):
    data, name = catalogue_io.pending_read(actor=request.user, key=key)
    if outcome is None:
        outcome = catalogue_io.import_check(actor=request.user, data=data, file_name=name)
    context = {"outcome": outcome, "key": key, "file_name": name}
    return render(request, "opportunities/product_import_preview.html", context, status=status)


@tenant_view(IMPORT)
def product_import_preview(request, key: str):
    """What confirming writes: new and updated products, the rows refused and why."""
    return _preview(request, key)


@tenant_view(IMPORT)
@require_POST
@once  # a double click imports once (the second gets the first answer)
def product_import_confirm(request, key: str):
    data, name = catalogue_io.pending_read(actor=request.user, key=key)
    outcome = catalogue_io.import_apply(actor=request.user, data=data, file_name=name)
    if not outcome.ok:
        messages.error(request, _("Nothing was imported: fix the rows below and upload again."))
        return _preview(request, key, outcome, status=422)
    catalogue_io.pending_delete(actor=request.user, key=key)
    messages.success(
        request,
        _("Products imported: %(new)d new, %(updated)d updated.")
        % {"new": outcome.new, "updated": outcome.updated},
    )
    return redirect("opportunities:product-list")


@tenant_view(IMPORT)
def product_import_errors(request, key: str):
    """The refused rows as uploaded plus 错误原因 (.xlsx)."""
    data, name = catalogue_io.pending_read(actor=request.user, key=key)
    outcome = catalogue_io.import_check(actor=request.user, data=data, file_name=name)
    if not outcome.errors:
        raise Http404
    body = catalogue_io.error_report(data=data, file_name=name, outcome=outcome)
    stem = name.rsplit(".", 1)[0]
    response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        True, _("%(name)s-errors.xlsx") % {"name": stem}
    )
    return response


@tenant_view(IMPORT)
def product_import_template(request):
    body = catalogue_io.template_file(tenant_id=request.user.tenant_id)
    response = HttpResponse(body, content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        True, _("product-import-template") + ".xlsx"
    )
    return response


# ---------------------------------------------------------------- the picker


@tenant_view()
def product_picker(request):
    """The product picker (htmx fragment; a page of its own without JavaScript):
    on-sale products matching ``q`` (code, name, specification) in ``category`` and below,
    with the customer's last sold price when ``customer`` names one the user may see
    (SECURITY: another one is a 404)."""
    from customers.selectors import customer_get_for_actor

    actor = request.user
    text = request.GET.get("q", "")
    category = None
    raw_category = request.GET.get("category", "")
    if raw_category.isdigit():
        category = catalogue.category_get(actor=actor, pk=raw_category)
    customer = None
    raw_customer = request.GET.get("customer", "")
    if raw_customer.isdigit():
        customer = customer_get_for_actor(actor=actor, pk=int(raw_customer))
    rows = catalogue.picker_search(actor=actor, text=text, category=category)
    more = len(rows) > catalogue.PICKER_LIMIT
    rows = rows[: catalogue.PICKER_LIMIT]
    prices = {}
    if customer is not None:
        prices = catalogue.last_sold_prices(
            tenant_id=actor.tenant_id, customer_id=customer.pk, product_ids=[p.pk for p in rows]
        )
    for product in rows:
        product.last_sold = prices.get(product.pk)
    tree = catalogue.category_tree(tenant_id=actor.tenant_id)
    context = {
        "rows": rows,
        "more": more,
        "q": text,
        "category": category,
        "customer": customer,
        "tree": tree,
        "picker_url": reverse("opportunities:product-picker"),
    }
    if request.htmx:
        part = "results" if request.GET.get("part") == "results" else "picker"
        return render(request, f"opportunities/product_picker.html#{part}", context)
    return render(request, "opportunities/product_picker.html", context)
