"""Import and export of the product catalogue with django-import-export (issue 20: the
package the product owner named, for what it is made for: a small table with a column
mapping, a dry run and an error report).

* :class:`ProductResource` maps the Chinese columns (产品编码, 产品名称, 产品分类 …) to the
  product's fields. 产品分类 is a path 「叉车/电动叉车/三支点」: each missing level is created on
  the way (at most four levels; deeper is that row's error). A row whose 产品编码 exists
  updates that product; an empty cell leaves an existing product's value as it is.
* :func:`import_check` runs ``import_data(dry_run=True, use_transactions=True)``: everything
  is written inside a transaction that is rolled back, so the preview counts exactly what a
  confirmation writes (new / updated / errors per row) and nothing stays.
* :func:`import_apply` runs ``import_data(dry_run=False, use_transactions=True,
  rollback_on_validation_errors=True)``: one transaction; any bad row and nothing is written.
* The uploaded file waits between the check and the confirmation in the media folder under
  a random name that includes its uploader (``pending_*``); only that user's views open it.
* The export is a crm.exporting kind (``products``): the list as filtered, the same columns.

Reading a file goes through crm.spreadsheets (header row search, notes such as （必填）
stripped, xlsx / xls / csv / ods); cells through its cleaners (full-width digits, 1.5万, 是/否).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404, QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from import_export import fields, resources, widgets
from import_export.instance_loaders import CachedInstanceLoader

from crm import exporting
from crm.activity_words import filterset_words, register_query_words
from crm.exceptions import PermissionRefusedError, ServiceError
from crm.models import Option, OptionKind, User
from crm.spreadsheets import (
    SpreadsheetError,
    cell_bool,
    cell_decimal,
    cell_text,
    clean_header,
    read_sheet,
)
from crm.xlsx import write_xlsx
from opportunities import catalogue
from opportunities.models import MAX_CATEGORY_LEVEL, Product, ProductStockChange
from opportunities.services import products as services

PERMISSION = "product.import"
MAX_ROWS = 5000
MAX_BYTES = 20 * 1024 * 1024
PREVIEW_ROWS = 50
PATH_SEPARATORS = re.compile(r"\s*[/／>＞\\]\s*")
STATUS_WORDS = {
    "上架": Product.Status.ON_SALE,
    "在售": Product.Status.ON_SALE,
    "on_sale": Product.Status.ON_SALE,
    "on sale": Product.Status.ON_SALE,
    "下架": Product.Status.OFF_SALE,
    "停售": Product.Status.OFF_SALE,
    "off_sale": Product.Status.OFF_SALE,
    "off sale": Product.Status.OFF_SALE,
}
STATUS_LABELS = {Product.Status.ON_SALE: "上架", Product.Status.OFF_SALE: "下架"}

# The columns: (field, header in the file, other headers accepted, required for a new
# product, sample value of the template).
COLUMNS: list[tuple[str, str, tuple[str, ...], bool, str]] = [
    ("code", "产品编码", ("编码", "产品编号", "Product code", "Code"), False, "CPD30-E"),
    ("name", "产品名称", ("名称", "产品", "Product name", "Name"), True, "XT系列电动叉车"),
    (
        "category",
        "产品分类",
        ("分类", "Category", "Product category"),
        True,
        "叉车/电动叉车/三支点",
    ),
    ("spec", "规格", ("规格型号", "型号", "Specification"), False, "3吨"),
    ("brand", "品牌", ("Brand",), False, "杭州叉车"),
    ("unit", "单位", ("Unit",), False, "台"),
    ("price", "标准价格", ("价格", "单价", "标准价", "Price", "Standard price"), True, "128000"),
    ("stock", "库存", ("库存数量", "Stock"), False, "5"),
    ("order_type", "订单类型", ("Order type",), False, ""),
    ("is_vehicle", "是否车辆", ("车辆", "Vehicle"), False, "是"),
    (
        "maintenance_interval_days",
        "保养周期(天)",
        ("保养周期", "保养周期（天）", "Maintenance interval (days)"),
        False,
        "90",
    ),
    ("status", "状态", ("上下架", "Status"), False, "上架"),
    ("description", "描述", ("产品描述", "备注", "Description"), False, "锂电池，前移式"),
]
HEADER_OF = {key: header for key, header, *_rest in COLUMNS}
ERROR_HEADER = "错误原因"


def _header_lookup() -> dict[str, str]:
    """clean_header(any accepted header) → the column's own header."""
    lookup = {}
    for _key, header, aliases, *_rest in COLUMNS:
        for name in (header, *aliases):
            lookup.setdefault(clean_header(name).lower(), header)
    return lookup


HEADER_LOOKUP = _header_lookup()


# ---------------------------------------------------------------- widgets


class TextWidget(widgets.Widget):
    """A cell as clean text (None when empty: the field keeps its value)."""

    def __init__(self, max_length: int):
        super().__init__()
        self.max_length = max_length

    def clean(self, value, row=None, **kwargs):
        text = " ".join(cell_text(value).split()) if value not in (None, "") else ""
        if not text:
            return None
        if len(text) > self.max_length:
            raise ValueError(_("At most %(count)d characters.") % {"count": self.max_length})
        return text

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class LongTextWidget(TextWidget):
    def clean(self, value, row=None, **kwargs):
        text = cell_text(value).strip() if value not in (None, "") else ""
        return text[: self.max_length] or None


class DecimalCellWidget(widgets.Widget):
    def __init__(self, maximum: Decimal, message):
        super().__init__(coerce_to_string=False)
        self.maximum = maximum
        self.message = message

    def clean(self, value, row=None, **kwargs):
        number = cell_decimal(value)
        if number is None:
            return None
        if number < 0 or number > self.maximum:
            raise ValueError(str(self.message))
        return number.quantize(Decimal("0.01"))

    def render(self, value, obj=None, **kwargs):
        return value


class IntegerCellWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        number = cell_decimal(value)
        if number is None:
            return None
        if number != number.to_integral_value() or not 1 <= number <= 3650:
            raise ValueError(_("A number of days from 1 to 3650."))
        return int(number)

    def render(self, value, obj=None, **kwargs):
        return value


class BoolCellWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        return cell_bool(value)

    def render(self, value, obj=None, **kwargs):
        return "是" if value else "否"


class StatusWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = cell_text(value).strip().lower() if value not in (None, "") else ""
        if not text:
            return None
        status = STATUS_WORDS.get(text)
        if status is None:
            raise ValueError(_("Write 上架 or 下架."))
        return status

    def render(self, value, obj=None, **kwargs):
        return STATUS_LABELS.get(value, "")


class OrderTypeWidget(widgets.Widget):
    """An order type by its label (the tenant's list, read once per import)."""

    def __init__(self, options: dict[str, Option]):
        super().__init__()
        self.options = options

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value).strip() if value not in (None, "") else ""
        if not text:
            return None
        option = self.options.get(text)
        if option is None:
            allowed = "、".join(self.options) or "—"
            raise ValueError(
                _("Not an order type of the list: %(value)s (the list: %(allowed)s).")
                % {"value": text, "allowed": allowed}
            )
        return option

    def render(self, value, obj=None, **kwargs):
        return value.label if value is not None else ""


class CategoryPathWidget(widgets.Widget):
    """「叉车/电动叉车/三支点」: the category at that path, missing levels created (in the
    import's transaction: rolled back with a dry run or a refused file)."""

    def __init__(self, actor: User | None, names: dict[int, str] | None = None):
        super().__init__()
        self.actor = actor
        self.cache: dict = {}
        self.names = names or {}

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value).strip() if value not in (None, "") else ""
        if not text:
            return None
        parts = [p for p in PATH_SEPARATORS.split(text) if p]
        if len(parts) > MAX_CATEGORY_LEVEL:
            raise ValueError(
                _("%(path)s has %(count)d levels; categories have at most %(levels)d.")
                % {"path": text, "count": len(parts), "levels": MAX_CATEGORY_LEVEL}
            )
        try:
            return services.category_ensure_path(actor=self.actor, names=parts, cache=self.cache)
        except ServiceError as exc:
            raise ValueError(str(exc.message)) from exc

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return catalogue.category_label(value, self.names)


# ---------------------------------------------------------------- the resource


class ProductLoader(CachedInstanceLoader):
    """The products named by the file's codes, read (and locked) in one query; a row
    without a code is always a new product."""

    def __init__(self, resource, dataset=None):
        self.resource = resource
        self.dataset = dataset
        self.pk_field = resource.fields["code"]
        self.all_instances = {}
        header = self.pk_field.column_name
        if dataset is not None and header in (dataset.headers or []):
            codes = set()
            for value in dataset[header]:
                try:
                    code = self.pk_field.clean({header: value})
                except ValueError:
                    continue
                if code:
                    codes.add(code)
            if codes:
                qs = resource.get_queryset().filter(code__in=codes)
                if resource.locking:
                    qs = qs.select_for_update()
                self.all_instances = {p.code: p for p in qs}

    def get_instance(self, row):
        try:
            code = self.pk_field.clean(row)
        except (ValueError, KeyError):
            return None
        return self.all_instances.get(code) if code else None


class ProductResource(resources.ModelResource):
    """The catalogue's columns (Chinese headers) for import and export."""

    code = fields.Field("code", "产品编码", TextWidget(32), saves_null_values=False)
    name = fields.Field("name", "产品名称", TextWidget(128), saves_null_values=False)
    category = fields.Field("category", "产品分类", saves_null_values=False)
    spec = fields.Field("spec", "规格", TextWidget(64), saves_null_values=False)
    brand = fields.Field("brand", "品牌", TextWidget(64), saves_null_values=False)
    unit = fields.Field("unit", "单位", TextWidget(16), saves_null_values=False)
    price = fields.Field(
        "price",
        "标准价格",
        DecimalCellWidget(services.MAX_PRICE, gettext_lazy("An amount of 0 or more.")),
        saves_null_values=False,
    )
    stock = fields.Field(
        "stock",
        "库存",
        DecimalCellWidget(services.MAX_STOCK, gettext_lazy("A quantity of 0 or more.")),
        saves_null_values=False,
    )
    order_type = fields.Field("order_type", "订单类型", saves_null_values=False)
    is_vehicle = fields.Field("is_vehicle", "是否车辆", BoolCellWidget(), saves_null_values=False)
    maintenance_interval_days = fields.Field(
        "maintenance_interval_days", "保养周期(天)", IntegerCellWidget(), saves_null_values=False
    )
    status = fields.Field("status", "状态", StatusWidget(), saves_null_values=False)
    description = fields.Field("description", "描述", LongTextWidget(5000), saves_null_values=False)

    class Meta:
        model = Product
        fields = tuple(key for key, *_rest in COLUMNS)
        import_order = fields
        export_order = fields
        import_id_fields = ("code",)
        instance_loader_class = ProductLoader
        skip_diff = True
        clean_model_instances = False  # the service's rules instead (validate_instance)
        store_instance = True

    def __init__(self, *, actor: User | None = None, tenant_id: int, file_name: str = ""):
        super().__init__()
        self.actor = actor
        self.tenant_id = tenant_id
        self.file_name = file_name
        self.locking = False
        self.row_numbers: list[int] = []
        names = catalogue.category_names(tenant_id=tenant_id)
        options = {
            o.label: o
            for o in Option.objects.filter(tenant_id=tenant_id, kind=OptionKind.ORDER_TYPE)
        }
        self.fields["category"].widget = CategoryPathWidget(actor, names)
        self.fields["order_type"].widget = OrderTypeWidget(options)
        self.codes_seen: dict[str, int] = {}

    def get_queryset(self):
        return Product.objects.filter(tenant_id=self.tenant_id)

    def init_instance(self, row=None):
        return Product(
            tenant_id=self.tenant_id, created_by=self.actor, status=Product.Status.ON_SALE
        )

    def file_row(self, number: int) -> int:
        """The row of the file behind dataset row ``number`` (1-based)."""
        if 0 < number <= len(self.row_numbers):
            return self.row_numbers[number - 1]
        return number

    def before_import(self, dataset, **kwargs):
        self.locking = not kwargs.get("dry_run", False)
        self.codes_seen = {}

    def before_import_row(self, row, **kwargs):
        number = self.file_row(kwargs.get("row_number") or 0)
        try:
            code = self.fields["code"].clean(row)
        except (ValueError, KeyError):
            return
        if code:
            first = self.codes_seen.setdefault(code, number)
            if first != number:
                raise ValidationError(
                    {
                        "code": _("%(code)s is already on row %(row)d of this file.")
                        % {"code": code, "row": first}
                    }
                )

    def after_init_instance(self, instance, new, row, **kwargs):
        instance._import_new = new
        instance._import_stock = Decimal(0) if new else instance.stock

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        if not errors:
            new = getattr(instance, "_import_new", True)
            data = {
                key: getattr(instance, key)
                for key in services.PRODUCT_FIELDS
                if key not in ("category",)
            }
            data["category"] = instance.category if instance.category_id else None
            try:
                services.clean_product_data(self.actor, data, product=None if new else instance)
            except ServiceError as exc:
                errors[NON_FIELD_ERRORS] = [str(exc.message)]
        if errors:
            raise ValidationError(errors)

    def after_save_instance(self, instance, row, **kwargs):
        from crm import activity

        number = self.file_row(kwargs.get("row_number") or 0)
        activity.activity_record(
            actor=self.actor,
            target=instance,
            action=services.PRODUCT_IMPORTED,
            changes={"row": ["", str(number)], "file": ["", self.file_name]},
        )
        old = instance._import_stock
        if instance.stock != old:
            services._log_stock(
                self.actor,
                instance,
                old,
                instance.stock,
                _("Import of %(file)s") % {"file": self.file_name} if self.file_name else "",
                ProductStockChange.Reason.EDIT,
            )

    def after_import(self, dataset, result, **kwargs):
        # PERF/SECURITY: ModelResource resets the table's id sequence after an import that
        # created rows (meant for imports that supply ids). Ours never do, and on
        # PostgreSQL the reset could move the sequence below ids other transactions hold.
        return None


def resource_for(actor: User, file_name: str = "") -> ProductResource:
    return ProductResource(actor=actor, tenant_id=actor.tenant_id, file_name=file_name)


# ---------------------------------------------------------------- reading a file


@dataclass
class RowOutcome:
    row: int  # the file's row number
    kind: str  # new | update | error
    code: str = ""
    name: str = ""
    category: str = ""
    message: str = ""


@dataclass
class Outcome:
    """What an import does (dry run) or did: counts and rows."""

    total: int = 0
    new: int = 0
    updated: int = 0
    rows: list[RowOutcome] = field(default_factory=list)
    errors: list[RowOutcome] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    sheet_name: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors and not self.file_errors and self.total > 0


@dataclass
class Loaded:
    dataset: tablib.Dataset
    row_numbers: list[int]
    raw_headers: list[str]
    raw_rows: list[list]
    sheet_name: str


def load(data: bytes, filename: str) -> Loaded:
    """The file's rows as a tablib Dataset headed with the columns' own headers (unknown
    columns dropped, 产品编码 always present). SpreadsheetError when it cannot be read."""
    known = [name for _k, header, aliases, *_r in COLUMNS for name in (header, *aliases)]
    sheet = read_sheet(data, filename, known_headers=known, max_rows=MAX_ROWS, max_bytes=MAX_BYTES)
    positions: dict[str, int] = {}
    for index, header in enumerate(sheet.headers):
        target = HEADER_LOOKUP.get(header.lower()) if header else None
        if target and target not in positions:
            positions[target] = index
    # A file that updates products by code may hold only some columns (产品编码 and 库存);
    # a new row without 产品名称, 产品分类 or 标准价格 is that row's error.
    if HEADER_OF["code"] not in positions and HEADER_OF["name"] not in positions:
        raise SpreadsheetError(
            _("The file has no column %(columns)s. Download the template to see the columns.")
            % {"columns": "、".join([HEADER_OF["code"], HEADER_OF["name"]])},
            "columns",
        )
    headers = [header for _key, header, *_r in COLUMNS if header in positions]
    if HEADER_OF["code"] not in positions:
        headers.insert(0, HEADER_OF["code"])
    dataset = tablib.Dataset(headers=headers)
    numbers = []
    raw_rows = []
    for number, values in sheet.rows:
        dataset.append([values[positions[h]] if h in positions else "" for h in headers])
        numbers.append(number)
        raw_rows.append(list(values))
    return Loaded(dataset, numbers, list(sheet.raw_headers), raw_rows, sheet.sheet_name)


def _messages(resource: ProductResource, error: ValidationError) -> str:
    labels = {name: f.column_name for name, f in resource.fields.items()}
    try:
        items = error.message_dict.items()
    except AttributeError:
        return "；".join(str(m) for m in error.messages)
    parts = []
    for key, messages in items:
        text = "；".join(str(m) for m in messages)
        parts.append(text if key == NON_FIELD_ERRORS else f"{labels.get(key, key)}：{text}")
    return "；".join(parts)


def _run(actor: User, loaded: Loaded, file_name: str, *, dry_run: bool) -> Outcome:
    resource = resource_for(actor, file_name)
    resource.row_numbers = loaded.row_numbers
    result = resource.import_data(
        loaded.dataset,
        dry_run=dry_run,
        use_transactions=True,
        rollback_on_validation_errors=True,
        retain_instance_in_row_result=True,
    )
    outcome = Outcome(total=len(loaded.dataset), sheet_name=loaded.sheet_name)
    names = {}
    for number, row_result in enumerate(result.rows, 1):
        file_row = resource.file_row(number)
        if row_result.is_invalid():
            error = row_result.validation_error
            outcome.errors.append(RowOutcome(file_row, "error", message=_messages(resource, error)))
            continue
        if row_result.is_error():
            outcome.errors.append(
                RowOutcome(
                    file_row,
                    "error",
                    message=_("This row could not be imported: %(error)s")
                    % {"error": row_result.errors[-1].error},
                )
            )
            continue
        product = row_result.instance
        kind = "new" if row_result.is_new() else "update"
        if kind == "new":
            outcome.new += 1
        else:
            outcome.updated += 1
        if len(outcome.rows) < PREVIEW_ROWS and product is not None:
            category = product.category if product.category_id else None
            if category is not None and not names:
                names = catalogue.category_names(tenant_id=actor.tenant_id)
                names.update(
                    {c.pk: c.name for c in resource.fields["category"].widget.cache.values()}
                )
            outcome.rows.append(
                RowOutcome(
                    file_row,
                    kind,
                    product.code,
                    product.name,
                    catalogue.category_label(category, names) if category else "",
                )
            )
    for base in result.base_errors:
        outcome.file_errors.append(str(base.error))
    outcome.errors.sort(key=lambda r: r.row)
    return outcome


def import_check(*, actor: User, data: bytes, file_name: str) -> Outcome:
    """The dry run: what importing the file would do; nothing is written."""
    _require(actor)
    try:
        loaded = load(data, file_name)
    except SpreadsheetError as exc:
        return Outcome(file_errors=[str(exc.message)])
    if not len(loaded.dataset):
        return Outcome(file_errors=[_("The file has no rows below its header row.")])
    return _run(actor, loaded, file_name, dry_run=True)


def import_apply(*, actor: User, data: bytes, file_name: str) -> Outcome:
    """Import the file in one transaction: every row, or nothing when any row is wrong."""
    _require(actor)
    try:
        loaded = load(data, file_name)
    except SpreadsheetError as exc:
        return Outcome(file_errors=[str(exc.message)])
    if not len(loaded.dataset):
        return Outcome(file_errors=[_("The file has no rows below its header row.")])
    return _run(actor, loaded, file_name, dry_run=False)


def _require(actor: User) -> None:
    if not (actor.is_active and actor.tenant_id and actor.can(PERMISSION)):
        raise PermissionRefusedError()


def error_report(*, data: bytes, file_name: str, outcome: Outcome) -> bytes:
    """The rejected rows as uploaded, with 错误原因 last (an .xlsx)."""
    loaded = load(data, file_name)
    reasons = {e.row: e.message for e in outcome.errors}
    rows = [
        [*values, reasons[number]]
        for number, values in zip(loaded.row_numbers, loaded.raw_rows, strict=True)
        if number in reasons
    ]
    buffer = BytesIO()
    write_xlsx(buffer, [*loaded.raw_headers, ERROR_HEADER], rows, title=_("Errors"))
    return buffer.getvalue()


def template_file(*, tenant_id: int) -> bytes:
    """The import template: the header row (required columns marked *), one example row,
    and a second sheet with what each column takes."""
    order_types = list(
        Option.objects.filter(tenant_id=tenant_id, kind=OptionKind.ORDER_TYPE, is_active=True)
        .order_by("sort_order", "id")
        .values_list("label", flat=True)
    )
    headers = [f"{header}*" if required else header for _k, header, _a, required, _s in COLUMNS]
    sample = [
        (order_types[0] if order_types else "") if key == "order_type" else value
        for key, _h, _a, _r, value in COLUMNS
    ]
    notes = {
        "code": _("Optional. A code that exists updates that product."),
        "name": _("Required for a new product."),
        "category": _(
            "Required for a new product: a path of at most 4 levels separated by “/”; "
            "missing categories are created."
        ),
        "price": _("Required for a new product: an amount of 0 or more."),
        "stock": _("A quantity of 0 or more; a change is logged."),
        "order_type": _("One of: %(list)s") % {"list": "、".join(order_types) or "—"},
        "is_vehicle": _("是 or 否"),
        "maintenance_interval_days": _("Days, 1 to 3650"),
        "status": _("上架 or 下架 (empty: 上架 for a new product)"),
    }
    help_rows = [
        [header, _("Yes") if required else _("No"), str(notes.get(key, ""))]
        for key, header, _a, required, _s in COLUMNS
    ]
    help_rows.append(["", "", _("An empty cell leaves an existing product's value as it is.")])
    buffer = BytesIO()
    write_xlsx(
        buffer,
        headers,
        [sample],
        title=pgettext("product catalogue", "Products"),
        extra_sheets=[(_("Columns"), [_("Column"), _("Required"), _("What it takes")], help_rows)],
    )
    return buffer.getvalue()


# ---------------------------------------------------------------- the waiting file

PENDING_FOLDER = "tenants/{tenant}/product-imports"
KEY_RE = re.compile(r"[A-Za-z0-9_-]{20,40}")


def _pending_names(actor: User, key: str) -> tuple[str, str]:
    # SECURITY: the stored name holds the uploader's id: another user's key names a file
    # that does not exist (a 404), in any tenant.
    if not KEY_RE.fullmatch(key or ""):
        raise Http404
    folder = PENDING_FOLDER.format(tenant=actor.tenant_id)
    stem = f"{folder}/{actor.pk}-{key}"
    return f"{stem}.bin", f"{stem}.json"


def pending_save(*, actor: User, data: bytes, file_name: str, outcome: Outcome) -> str:
    """Keep an uploaded file until it is confirmed; returns its key."""
    key = secrets.token_urlsafe(18)
    data_name, meta_name = _pending_names(actor, key)
    default_storage.save(data_name, ContentFile(data))
    meta = {"name": file_name[:200], "new": outcome.new, "updated": outcome.updated}
    default_storage.save(meta_name, ContentFile(json.dumps(meta).encode()))
    return key


def pending_read(*, actor: User, key: str) -> tuple[bytes, str]:
    """(the file, its name) of the actor's waiting import ``key``; 404 otherwise."""
    data_name, meta_name = _pending_names(actor, key)
    try:
        with default_storage.open(meta_name, "rb") as handle:
            meta = json.loads(handle.read())
        with default_storage.open(data_name, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise Http404 from exc
    return data, str(meta.get("name") or "")


def pending_delete(*, actor: User, key: str) -> None:
    for name in _pending_names(actor, key):
        with contextlib.suppress(OSError):
            default_storage.delete(name)


def pending_purge(*, tenant_id: int, older_than_hours: int = 24) -> int:
    """Delete the tenant's waiting import files nobody confirmed within
    ``older_than_hours`` (for a nightly task); returns how many files went."""
    import datetime

    from django.utils import timezone

    folder = PENDING_FOLDER.format(tenant=tenant_id)
    try:
        _dirs, names = default_storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError, OSError):
        return 0
    cutoff = timezone.now() - datetime.timedelta(hours=older_than_hours)
    removed = 0
    for name in names:
        path = f"{folder}/{name}"
        with contextlib.suppress(OSError):
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
                removed += 1
    return removed


# ---------------------------------------------------------------- the export

EXPORT_KIND = "products"


def _filter_class():
    from opportunities.forms.products import ProductFilter

    return ProductFilter


def export_columns(tenant_id: int) -> list[exporting.Column]:
    """The import's columns, read through the resource's widgets (export = import shape)."""
    resource = ProductResource(actor=None, tenant_id=tenant_id)
    columns = []
    for key, header, *_rest in COLUMNS:
        resource_field = resource.fields[key]

        def value(obj, f=resource_field):
            raw = f.get_value(obj)
            if raw is None:
                return ""
            return f.widget.render(raw)

        columns.append(exporting.Column(header, value))
    return columns


def export_source(*, actor: User, query: QueryDict, ids: Sequence[int] | None):
    """The product list of ``query`` (search, category and below, status, sort) or the
    ticked products; the same columns as the import."""
    base = catalogue.product_base(actor=actor)
    if ids is None:
        qs = exporting.list_filtered(_filter_class(), actor=actor, query=query, base=base)
    else:
        qs = exporting.only_selected(base, ids)
    sort = exporting.list_sort(query, catalogue.SORTS, "name")
    rows = catalogue.product_list(actor=actor, queryset=qs, sort=sort)
    return exporting.ExportSource(rows, export_columns(actor.tenant_id))


exporting.register(
    exporting.ExportKind(
        code=EXPORT_KIND,
        label=pgettext_lazy("product catalogue", "Products"),
        source=export_source,
        list_url="opportunities:product-list",
        permission=PERMISSION,
    )
)
register_query_words(EXPORT_KIND, filterset_words(_filter_class))
