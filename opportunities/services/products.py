"""Product catalogue services (wave2.md §2): categories (a tree of at most four levels with a
materialised path), products, their status (上架 / 下架), stock (every change logged with its
old and new value), images, and deletion refused while anything references a product.

Every function takes the acting user first (keyword-only), runs in one transaction, locks
the rows it changes (``select_for_update``), refuses with a translated ``ServiceError`` and
a stable ``code``, and writes the activity log. Right: ``product.manage`` (the import writes
with ``product.import``: ``category_ensure_path``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm import activity
from crm.exceptions import PermissionRefusedError, ServiceError, refused_if_taken
from crm.models import Option, OptionKind, User
from crm.services import require_same_tenant
from opportunities.models import (
    MAX_CATEGORY_LEVEL,
    OpportunityLine,
    Product,
    ProductCategory,
    ProductImage,
    ProductStockChange,
)

MANAGE = "product.manage"
IMPORT = "product.import"

MAX_PRICE = Decimal("999999999999.99")  # Decimal(14, 2)
MAX_STOCK = Decimal("9999999999.99")  # Decimal(12, 2)
MAX_IMAGES = 9
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Accepted image types, recognised by their first bytes (the extension is not trusted).
IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": ".png",
    b"\xff\xd8\xff": ".jpg",
    b"GIF87a": ".gif",
    b"GIF89a": ".gif",
}

# ---------------------------------------------------------------- activity actions

CATEGORY_CREATED = activity.register_action(
    "product_category.created", gettext_lazy("created the product category")
)
CATEGORY_RENAMED = activity.register_action(
    "product_category.renamed", gettext_lazy("changed the product category")
)
CATEGORY_MOVED = activity.register_action(
    "product_category.moved", gettext_lazy("moved the product category")
)
CATEGORY_DELETED = activity.register_action(
    "product_category.deleted", gettext_lazy("deleted the product category")
)
PRODUCT_CREATED = activity.register_action("product.created", gettext_lazy("created the product"))
PRODUCT_UPDATED = activity.register_action("product.updated", gettext_lazy("changed the product"))
PRODUCT_STATUS = activity.register_action(
    "product.status", gettext_lazy("put on sale or took off sale")
)
PRODUCT_STOCK = activity.register_action(
    "product.stock", gettext_lazy("changed the stock of"), fields={"note": gettext_lazy("Note")}
)
PRODUCT_DELETED = activity.register_action("product.deleted", gettext_lazy("deleted the product"))
PRODUCT_IMAGE_ADDED = activity.register_action(
    "product.image_added",
    gettext_lazy("added an image to"),
    fields={"file": gettext_lazy("Image")},
    plain=True,
)
PRODUCT_IMAGE_DELETED = activity.register_action(
    "product.image_deleted",
    gettext_lazy("deleted an image of"),
    fields={"file": gettext_lazy("Image")},
    plain=True,
)
PRODUCT_IMPORTED = activity.register_action(
    "product.imported",
    gettext_lazy("imported the product"),
    fields={"row": gettext_lazy("Row"), "file": gettext_lazy("File")},
    plain=True,
)

PRODUCT_FIELDS = [
    "code",
    "name",
    "category",
    "spec",
    "brand",
    "unit",
    "price",
    "order_type",
    "is_vehicle",
    "maintenance_interval_days",
    "status",
    "description",
]


def _refuse(message, code: str):
    raise ServiceError(message, code=code)


def _require(actor: User, *codes: str) -> None:
    if not (actor.is_active and actor.tenant_id and any(actor.can(c) for c in codes)):
        raise PermissionRefusedError()


# ---------------------------------------------------------------- categories


def clean_category_name(name: str | None) -> str:
    """A category's name, trimmed; refused when empty, too long or holding a "/" (the
    import's path separator)."""
    name = " ".join((name or "").split())
    if not name:
        _refuse(_("Enter the category's name."), "required")
    if len(name) > 64:
        _refuse(_("A category name has at most 64 characters."), "too_long")
    if "/" in name:
        _refuse(_("A category name cannot contain “/”."), "slash")
    return name


def _name_taken(name: str):
    return _("A category named %(name)s exists already at this place.") % {"name": name}


def _check_sibling_name(
    actor: User, name: str, parent: ProductCategory | None, exclude: int | None = None
):
    clash = ProductCategory.objects.filter(tenant_id=actor.tenant_id, parent=parent, name=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        _refuse(_name_taken(name), "duplicate")


def _lock_category(actor: User, category: ProductCategory | int) -> ProductCategory:
    pk = category.pk if isinstance(category, ProductCategory) else int(category)
    if isinstance(category, ProductCategory):
        require_same_tenant(actor, category)
    locked = (
        ProductCategory.objects.select_for_update().filter(tenant_id=actor.tenant_id, pk=pk).first()
    )
    if locked is None:
        from crm.exceptions import NotFoundError

        raise NotFoundError()
    return locked


def _too_deep():
    return _("Categories have at most %(levels)d levels.") % {"levels": MAX_CATEGORY_LEVEL}


def _insert_category(
    actor: User, name: str, parent: ProductCategory | None, sort: int
) -> ProductCategory:
    """Insert a category under ``parent`` (locked by the caller) and give it its path."""
    level = (parent.level + 1) if parent else 1
    if level > MAX_CATEGORY_LEVEL:
        _refuse(_too_deep(), "too_deep")
    _check_sibling_name(actor, name, parent)
    category = ProductCategory(
        tenant_id=actor.tenant_id, name=name, parent=parent, level=level, sort=sort
    )
    with refused_if_taken(_name_taken(name)):
        category.save()
    category.path = f"{parent.path if parent else '/'}{category.pk}/"
    ProductCategory.objects.filter(pk=category.pk).update(path=category.path)
    return category


@transaction.atomic
def category_create(
    *, actor: User, name: str, parent: ProductCategory | None = None, sort: int = 0
) -> ProductCategory:
    """A new category under ``parent`` (None: a first-level one). Refused deeper than four
    levels and under a name its siblings use."""
    _require(actor, MANAGE)
    name = clean_category_name(name)
    if parent is not None:
        parent = _lock_category(actor, parent)
    category = _insert_category(actor, name, parent, int(sort or 0))
    activity.activity_record(
        actor=actor,
        target=category,
        action=CATEGORY_CREATED,
        changes={"parent": ["", parent.name]} if parent else {},
    )
    return category


@transaction.atomic
def category_update(
    *, actor: User, category: ProductCategory, name: str | None = None, sort: int | None = None
) -> ProductCategory:
    """Rename a category (unique among its siblings) or change its place in its list."""
    _require(actor, MANAGE)
    category = _lock_category(actor, category)
    before = activity.snapshot(category, ["name", "sort"])
    if name is not None:
        name = clean_category_name(name)
        _check_sibling_name(actor, name, category.parent, exclude=category.pk)
        category.name = name
    if sort is not None:
        category.sort = int(sort)
    with refused_if_taken(_name_taken(category.name)):
        category.save(update_fields=["name", "sort"])
    changes = activity.diff(before, activity.snapshot(category, ["name", "sort"]))
    if changes:
        activity.activity_record(
            actor=actor, target=category, action=CATEGORY_RENAMED, changes=changes
        )
    return category


# The class of the transaction-level advisory lock of category moves (the two-int key
# space: crm.importing's batch locks use the one-bigint space, which does not overlap).
MOVE_LOCK_CLASS = 2002


def _serialise_moves(tenant_id: int) -> None:
    """Wait for the tenant's other category moves (PostgreSQL; SQLite writes one at a
    time anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [MOVE_LOCK_CLASS, tenant_id])


@transaction.atomic
def category_move(
    *, actor: User, category: ProductCategory, parent: ProductCategory | None
) -> ProductCategory:
    """Move a category with everything below it under ``parent`` (None: to the first
    level). Refused into itself or its own subtree, when the subtree would go below the
    fourth level, and under a name the new siblings use. The subtree's paths and levels are
    rewritten with one UPDATE."""
    _require(actor, MANAGE)
    require_same_tenant(actor, category, parent)
    # One move at a time per tenant: two moves lock overlapping sets of rows (a subtree and
    # a new parent, each in the other's set when two categories cross), which row locks
    # alone would turn into a deadlock. Then the row, so that its path is read as it is now.
    _serialise_moves(actor.tenant_id)
    category = _lock_category(actor, category)
    old_path = category.path
    # Lock the subtree and the new parent, in id order (two moves never wait on each other
    # in a cycle), then read them again as locked.
    wanted = Q(path__startswith=old_path)
    if parent is not None:
        wanted |= Q(pk=parent.pk)
    locked = {
        row.pk: row
        for row in ProductCategory.objects.select_for_update()
        .filter(wanted, tenant_id=actor.tenant_id)
        .order_by("pk")
    }
    category = locked.get(category.pk)
    if category is None:
        from crm.exceptions import NotFoundError

        raise NotFoundError()
    if parent is not None:
        parent = locked.get(parent.pk)
        if parent is None:
            from crm.exceptions import NotFoundError

            raise NotFoundError()
        if parent.path.startswith(category.path):
            _refuse(
                _("A category cannot move into itself or one of its sub-categories."),
                "cycle",
            )
    if (parent.pk if parent else None) == category.parent_id:
        return category  # already there
    new_level = (parent.level + 1) if parent else 1
    # Read after the locks were granted (a new statement): a sub-category created under the
    # subtree by a transaction we waited for is counted too.
    deepest = ProductCategory.objects.filter(
        tenant_id=actor.tenant_id, path__startswith=category.path
    ).aggregate(deepest=Max("level"))["deepest"]
    if deepest - category.level + new_level > MAX_CATEGORY_LEVEL:
        _refuse(
            _(
                "Moved there, %(name)s and its sub-categories would have more than "
                "%(levels)d levels."
            )
            % {"name": category.name, "levels": MAX_CATEGORY_LEVEL},
            "too_deep",
        )
    _check_sibling_name(actor, category.name, parent, exclude=category.pk)
    old_parent_name = category.parent.name if category.parent_id else ""
    new_path = f"{parent.path if parent else '/'}{category.pk}/"
    delta = new_level - category.level
    with refused_if_taken(_name_taken(category.name)):
        ProductCategory.objects.filter(pk=category.pk).update(parent=parent)
    # One UPDATE for the whole subtree: the old prefix replaced by the new one.
    ProductCategory.objects.filter(tenant_id=actor.tenant_id, path__startswith=old_path).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
        level=F("level") + delta,
    )
    category.refresh_from_db()
    activity.activity_record(
        actor=actor,
        target=category,
        action=CATEGORY_MOVED,
        changes={"parent": [old_parent_name, parent.name if parent else ""]},
    )
    return category


@transaction.atomic
def category_delete(*, actor: User, category: ProductCategory) -> None:
    """Delete a category without sub-categories and without products (move them first)."""
    _require(actor, MANAGE)
    category = _lock_category(actor, category)
    children = ProductCategory.objects.filter(tenant_id=actor.tenant_id, parent=category).count()
    if children:
        _refuse(
            ngettext(
                "%(name)s has %(count)d sub-category; move or delete it first.",
                "%(name)s has %(count)d sub-categories; move or delete them first.",
                children,
            )
            % {"name": category.name, "count": children},
            "has_children",
        )
    products = Product.objects.filter(tenant_id=actor.tenant_id, category=category).count()
    if products:
        _refuse(
            ngettext(
                "%(name)s holds %(count)d product; move it to another category first.",
                "%(name)s holds %(count)d products; move them to another category first.",
                products,
            )
            % {"name": category.name, "count": products},
            "has_products",
        )
    activity.activity_record(actor=actor, target=category, action=CATEGORY_DELETED)
    category.delete()


def category_ensure_path(
    *, actor: User, names: Sequence[str], cache: dict | None = None
) -> ProductCategory:
    """The category at path ``names`` (「叉车/电动叉车/三支点」 split), each missing level
    created on the way (the catalogue import). Refused deeper than four levels. Runs in
    the caller's transaction (the import's); ``cache`` maps a path tuple to its category
    for the rows of one file."""
    _require(actor, MANAGE, IMPORT)
    clean = [clean_category_name(n) for n in names]
    if not clean:
        _refuse(_("Enter the product's category."), "required")
    if len(clean) > MAX_CATEGORY_LEVEL:
        _refuse(_too_deep(), "too_deep")
    cache = cache if cache is not None else {}
    parent: ProductCategory | None = None
    for depth in range(1, len(clean) + 1):
        key = tuple(clean[:depth])
        found = cache.get(key)
        if found is None:
            found = (
                ProductCategory.objects.select_for_update()
                .filter(tenant_id=actor.tenant_id, parent=parent, name=key[-1])
                .first()
            )
            if found is None:
                found = _insert_category(actor, key[-1], parent, 0)
                activity.activity_record(
                    actor=actor,
                    target=found,
                    action=CATEGORY_CREATED,
                    changes={"parent": ["", parent.name]} if parent else {},
                )
            cache[key] = found
        parent = found
    assert parent is not None
    return parent


# ---------------------------------------------------------------- products


def _decimal(value, *, message, code: str, maximum: Decimal, allow_none=False):
    if value in (None, ""):
        if allow_none:
            return None
        _refuse(message, code)
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        _refuse(message, code)
    if not number.is_finite() or number < 0 or number > maximum:
        _refuse(message, code)
    return number.quantize(Decimal("0.01"))


def clean_product_data(actor: User, data: dict, product: Product | None = None) -> dict[str, Any]:
    """The product fields of ``data`` checked and normalised; a ServiceError for the first
    that is wrong. Related rows (category, order type) must be the actor's tenant's."""
    values = {k: v for k, v in data.items() if k in PRODUCT_FIELDS}
    for key, limit in (("code", 32), ("spec", 64), ("brand", 64), ("unit", 16)):
        if key in values:
            text = " ".join(str(values[key] or "").split())
            if len(text) > limit:
                _refuse(
                    _("%(field)s has at most %(count)d characters.")
                    % {"field": Product._meta.get_field(key).verbose_name, "count": limit},
                    "too_long",
                )
            values[key] = text
    if "name" in values or product is None:
        name = " ".join(str(values.get("name") or "").split())
        if not name:
            _refuse(_("Enter the product's name."), "required")
        if len(name) > 128:
            _refuse(_("A product name has at most 128 characters."), "too_long")
        values["name"] = name
    if "category" in values or product is None:
        category = values.get("category")
        if isinstance(category, int | str) and str(category).isdigit():
            category = ProductCategory.objects.filter(
                tenant_id=actor.tenant_id, pk=int(category)
            ).first()
        if not isinstance(category, ProductCategory):
            _refuse(_("Choose the product's category."), "category")
        require_same_tenant(actor, category)
        values["category"] = category
    if "price" in values or product is None:
        values["price"] = _decimal(
            values.get("price"),
            message=_("Enter the standard price as an amount of 0 or more."),
            code="price",
            maximum=MAX_PRICE,
        )
    if "order_type" in values:
        option = values["order_type"]
        if option is not None:
            require_same_tenant(actor, option)
            if not isinstance(option, Option) or option.kind != OptionKind.ORDER_TYPE:
                _refuse(_("Choose an order type of the list."), "order_type")
    if "is_vehicle" in values:
        values["is_vehicle"] = bool(values["is_vehicle"])
    if "maintenance_interval_days" in values:
        days = values["maintenance_interval_days"]
        if days in ("", None):
            values["maintenance_interval_days"] = None
        else:
            try:
                days = int(days)
            except (TypeError, ValueError):
                days = -1
            if not 1 <= days <= 3650:
                _refuse(
                    _("Enter the maintenance interval as a number of days from 1 to 3650."),
                    "interval",
                )
            values["maintenance_interval_days"] = days
    if "status" in values and values["status"] not in Product.Status.values:
        _refuse(_("Choose on sale or off sale."), "status")
    if "description" in values:
        values["description"] = str(values["description"] or "").strip()[:5000]
    return values


def _code_taken(code: str):
    return _("A product with the code %(code)s exists already.") % {"code": code}


def _check_code(actor: User, code: str, exclude: int | None = None) -> None:
    if not code:
        return
    clash = Product.objects.filter(tenant_id=actor.tenant_id, code=code)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        _refuse(_code_taken(code), "duplicate_code")


def clean_stock(value) -> Decimal:
    return _decimal(
        value if value not in (None, "") else 0,
        message=_("Enter the stock as a quantity of 0 or more."),
        code="stock",
        maximum=MAX_STOCK,
    )


def _log_stock(actor: User, product: Product, old: Decimal, new: Decimal, note: str, reason):
    ProductStockChange.objects.create(
        tenant_id=product.tenant_id,
        product=product,
        old=old,
        new=new,
        reason=reason,
        note=note[:200],
        changed_by=actor,
    )
    activity.activity_record(
        actor=actor,
        target=product,
        action=PRODUCT_STOCK,
        changes={"stock": [_number(old), _number(new)], **({"note": ["", note]} if note else {})},
    )


def _number(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@transaction.atomic
def product_create(*, actor: User, data: dict, images: Sequence = ()) -> Product:
    """A new product. ``data``: the PRODUCT_FIELDS and ``stock`` (the opening stock, logged
    as a change from 0 when not 0). The code, when given, is unique in the tenant.
    ``images``: uploaded files stored with it (``product_image_add``'s rules)."""
    _require(actor, MANAGE)
    values = clean_product_data(actor, data)
    stock = clean_stock(data.get("stock"))
    _check_code(actor, values.get("code", ""))
    product = Product(tenant_id=actor.tenant_id, created_by=actor, stock=stock, **values)
    with refused_if_taken(_code_taken(values.get("code", "")), code="duplicate_code"):
        product.save()
    activity.activity_record(actor=actor, target=product, action=PRODUCT_CREATED)
    if stock:
        _log_stock(actor, product, Decimal(0), stock, "", ProductStockChange.Reason.EDIT)
    for upload in images:
        _image_add(actor, product, upload)
    return product


def _lock_product(actor: User, product: Product | int) -> Product:
    if isinstance(product, Product):
        require_same_tenant(actor, product)
    pk = product.pk if isinstance(product, Product) else int(product)
    locked = (
        Product.objects.select_for_update(of=("self",))
        .filter(tenant_id=actor.tenant_id, pk=pk)
        .select_related("category", "order_type")
        .first()
    )
    if locked is None:
        from crm.exceptions import NotFoundError

        raise NotFoundError()
    return locked


@transaction.atomic
def product_update(*, actor: User, product: Product, data: dict, images: Sequence = ()) -> Product:
    """Change a product's fields (not its stock: ``product_stock_set``); ``images`` are
    added to it."""
    _require(actor, MANAGE)
    product = _lock_product(actor, product)
    values = clean_product_data(actor, data, product)
    if "code" in values:
        _check_code(actor, values["code"], exclude=product.pk)
    before = activity.snapshot(product, PRODUCT_FIELDS)
    for key, value in values.items():
        setattr(product, key, value)
    with refused_if_taken(_code_taken(product.code), code="duplicate_code"):
        product.save()
    changes = activity.diff(before, activity.snapshot(product, PRODUCT_FIELDS))
    if changes:
        activity.activity_record(
            actor=actor, target=product, action=PRODUCT_UPDATED, changes=changes
        )
    for upload in images:
        _image_add(actor, product, upload)
    return product


@transaction.atomic
def product_status_set(
    *, actor: User, products: Sequence[Product | int], status: str
) -> list[Product]:
    """Put products on sale (上架) or take them off sale (下架), all or none: refused as a
    whole when any is not the tenant's. Products already in that status are left as they
    are (no log entry)."""
    _require(actor, MANAGE)
    if status not in Product.Status.values:
        _refuse(_("Choose on sale or off sale."), "status")
    ids = sorted({p.pk if isinstance(p, Product) else int(p) for p in products})
    if not ids:
        _refuse(_("Select at least one product."), "empty")
    rows = list(
        Product.objects.select_for_update()
        .filter(tenant_id=actor.tenant_id, pk__in=ids)
        .order_by("pk")
    )
    if len(rows) != len(ids):
        missing = len(ids) - len(rows)
        _refuse(
            ngettext(
                "%(count)d selected product does not exist; nothing was changed.",
                "%(count)d selected products do not exist; nothing was changed.",
                missing,
            )
            % {"count": missing},
            "not_visible",
        )
    changed = [p for p in rows if p.status != status]
    if changed:
        old_label = {p.pk: p.get_status_display() for p in changed}
        Product.objects.filter(pk__in=[p.pk for p in changed]).update(status=status)
        for p in changed:
            p.status = status
        new_label = str(Product.Status(status).label)
        activity.activity_record_many(
            actor=actor,
            targets=changed,
            action=PRODUCT_STATUS,
            changes_for=lambda p: {"status": [str(old_label[p.pk]), new_label]},
        )
    return rows


@transaction.atomic
def product_stock_set(*, actor: User, product: Product, stock, note: str = "") -> Product:
    """Set a product's stock by hand: logged (ProductStockChange, reason "edit") and in
    the activity log with the old and the new value. Nothing is logged when it is the
    same."""
    _require(actor, MANAGE)
    product = _lock_product(actor, product)
    new = clean_stock(stock)
    note = " ".join((note or "").split())[:200]
    old = product.stock
    if new == old:
        return product
    product.stock = new
    product.save(update_fields=["stock", "updated_at"])
    _log_stock(actor, product, old, new, note, ProductStockChange.Reason.EDIT)
    return product


def product_references(product: Product) -> list[str]:
    """What references ``product`` and forbids deleting it, in words ("3 条商机产品明细"):
    the opportunity lines, then every check registered with
    ``opportunities.hooks.register_product_reference``."""
    from opportunities import hooks

    found = []
    lines = OpportunityLine.objects.filter(tenant_id=product.tenant_id, product=product).count()
    if lines:
        found.append(
            ngettext("%(count)d opportunity line", "%(count)d opportunity lines", lines)
            % {"count": lines}
        )
    found.extend(hooks.product_references(product))
    return found


@transaction.atomic
def product_delete(*, actor: User, product: Product) -> None:
    """Delete a product nothing references (its images and stock log go with it); refused
    otherwise, offering 下架 instead."""
    _require(actor, MANAGE)
    product = _lock_product(actor, product)
    used = product_references(product)
    if used:
        _refuse(
            _(
                "%(name)s is used by %(uses)s and cannot be deleted. Take it off sale "
                "instead: it disappears from the product pickers and stays on the old lines."
            )
            % {"name": str(product), "uses": "、".join(used)},
            "in_use",
        )
    files = [image.file.name for image in ProductImage.objects.filter(product=product)]
    activity.activity_record(actor=actor, target=product, action=PRODUCT_DELETED)
    product.delete()
    transaction.on_commit(lambda: _delete_files(files))


def _delete_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        with contextlib.suppress(OSError):  # a file already gone
            default_storage.delete(name)


def image_kind(upload) -> str | None:
    """The extension of an accepted image from its first bytes (None: not one)."""
    head = upload.read(16)
    upload.seek(0)
    for signature, extension in IMAGE_SIGNATURES.items():
        if head.startswith(signature):
            return extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return None


@transaction.atomic
def product_image_add(*, actor: User, product: Product, upload) -> ProductImage:
    """Add an image (PNG, JPEG, GIF or WebP, at most 10 MB, nine a product)."""
    _require(actor, MANAGE)
    return _image_add(actor, _lock_product(actor, product), upload)


def _image_add(actor: User, product: Product, upload) -> ProductImage:
    """Store one image of ``product`` (locked by the caller)."""
    if upload.size == 0:
        _refuse(_("The file is empty."), "empty")
    if upload.size > MAX_IMAGE_BYTES:
        _refuse(_("An image is at most 10 MB."), "too_large")
    extension = image_kind(upload)
    if extension is None:
        _refuse(_("Upload a PNG, JPEG, GIF or WebP image."), "type")
    count = ProductImage.objects.filter(tenant_id=actor.tenant_id, product=product).count()
    if count >= MAX_IMAGES:
        _refuse(_("A product has at most %(count)d images.") % {"count": MAX_IMAGES}, "too_many")
    stem = os.path.splitext(os.path.basename(upload.name or "image"))[0][:80] or "image"
    upload.name = stem + extension
    last = ProductImage.objects.filter(product=product).aggregate(m=Max("sort"))["m"]
    image = ProductImage(
        tenant_id=actor.tenant_id, product=product, sort=(last or 0) + 1 if last is not None else 0
    )
    image.file.save(upload.name, upload, save=False)
    image.save()
    activity.activity_record(
        actor=actor,
        target=product,
        action=PRODUCT_IMAGE_ADDED,
        changes={"file": ["", upload.name]},
    )
    return image


@transaction.atomic
def product_image_delete(*, actor: User, image: ProductImage) -> None:
    _require(actor, MANAGE)
    require_same_tenant(actor, image)
    product = _lock_product(actor, image.product_id)
    name = image.file.name
    ProductImage.objects.filter(pk=image.pk).delete()
    activity.activity_record(
        actor=actor,
        target=product,
        action=PRODUCT_IMAGE_DELETED,
        changes={"file": [os.path.basename(name), ""]},
    )
    transaction.on_commit(lambda: _delete_files([name]))
