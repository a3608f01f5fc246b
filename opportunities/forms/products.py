"""Forms of the product pages: the product form (with its images), stock, categories, the
list's batch bar and the catalogue import's upload. Choice lists come from the request's
tenant in ``__init__``; the order type is django-scopes' safe field; the category is a plain
choice over the tree (one query, indented labels)."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_scopes.forms import SafeModelChoiceField

from crm.filters import ListFilterSet
from crm.models import Option, OptionKind
from crm.selectors import options_for
from opportunities import catalogue
from opportunities.models import MAX_CATEGORY_LEVEL, Product, ProductCategory
from opportunities.services.products import MAX_IMAGES

INDENT = "\u3000"  # a full-width space per level below the first


def _order_types(request):
    if request is None:
        return Option.objects.none()
    return Option.objects.filter(
        tenant_id=request.user.tenant_id, kind=OptionKind.ORDER_TYPE
    ).order_by("sort_order", "id")


def category_choices(
    tenant_id: int, *, empty: str | None = None, max_level: int | None = None, nodes=None
):
    """(choices, categories by id) of the tenant's tree (``nodes``: read already): labels
    indented by depth, in tree order. ``max_level``: only categories that may take a child
    below that level."""
    if nodes is None:
        nodes = catalogue.category_tree(tenant_id=tenant_id)
    choices = [] if empty is None else [("", empty)]
    by_id = {}
    for node in nodes:
        by_id[node.pk] = node.category
        if max_level is not None and node.category.level > max_level:
            continue
        choices.append((node.pk, f"{INDENT * node.depth}{node.name}"))
    return choices, by_id


class CategoryField(forms.TypedChoiceField):
    """A category of the tree: cleaned to the ProductCategory itself."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("coerce", int)
        super().__init__(*args, **kwargs)
        self.by_id: dict[int, ProductCategory] = {}

    def clean(self, value):
        pk = super().clean(value)
        if pk in (None, ""):
            return None
        return self.by_id.get(pk)


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several image files at once (checked by the service: type by content, size)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget",
            MultipleImageInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class ProductForm(forms.Form):
    code = forms.CharField(label=_("Product code"), max_length=32, required=False)
    name = forms.CharField(label=_("Product name"), max_length=128)
    category = CategoryField(label=_("Product category"))
    spec = forms.CharField(label=_("Specification"), max_length=64, required=False)
    brand = forms.CharField(label=_("Brand"), max_length=64, required=False)
    unit = forms.CharField(
        label=_("Unit"), max_length=16, required=False, help_text=_("台, 件, 升 …")
    )
    price = forms.DecimalField(
        label=_("Standard price"), max_digits=14, decimal_places=2, min_value=0
    )
    stock = forms.DecimalField(
        label=_("Opening stock"),
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text=_("Later changes go through 修改库存 and are logged."),
    )
    order_type = SafeModelChoiceField(
        label=_("Default order type"), queryset=Option.objects.none(), required=False
    )
    is_vehicle = forms.BooleanField(
        label=_("Vehicle (its sales create customer vehicles)"), required=False
    )
    maintenance_interval_days = forms.IntegerField(
        label=_("Maintenance interval (days)"), min_value=1, max_value=3650, required=False
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=Product.Status.choices,
        initial=Product.Status.ON_SALE,
        widget=forms.RadioSelect,
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    images = MultipleImageField(
        label=_("Images"),
        required=False,
        help_text=_("PNG, JPEG, GIF or WebP, at most 10 MB each, %(count)d a product.")
        % {"count": MAX_IMAGES},
    )

    def __init__(self, *args, tenant_id: int, product: Product | None = None, **kwargs):
        if product is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "code": product.code,
                "name": product.name,
                "category": product.category_id,
                "spec": product.spec,
                "brand": product.brand,
                "unit": product.unit,
                "price": product.price,
                "order_type": product.order_type_id,
                "is_vehicle": product.is_vehicle,
                "maintenance_interval_days": product.maintenance_interval_days,
                "status": product.status,
                "description": product.description,
            }
        super().__init__(*args, **kwargs)
        choices, by_id = category_choices(tenant_id, empty=_("Choose a category"))
        self.fields["category"].choices = choices
        self.fields["category"].by_id = by_id
        self.fields["order_type"].queryset = options_for(
            tenant_id=tenant_id,
            kind=OptionKind.ORDER_TYPE,
            include=product.order_type if product is not None and product.order_type_id else None,
        )
        self.fields["order_type"].empty_label = _("None")
        if product is not None:
            del self.fields["stock"]  # edited on its own page, logged

    def data_for_service(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("images", None)
        data.pop("stock", None)
        return data


class StockForm(forms.Form):
    stock = forms.DecimalField(
        label=pgettext_lazy("product catalogue", "Stock"),
        max_digits=12,
        decimal_places=2,
        min_value=0,
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=200,
        required=False,
        help_text=_("Why it changes: a stocktake, a correction …"),
    )


class CategoryForm(forms.Form):
    """Add a category (name, parent) or rename one (name)."""

    name = forms.CharField(label=pgettext_lazy("product catalogue", "Name"), max_length=64)
    parent = CategoryField(label=_("Parent category"), required=False)
    sort = forms.IntegerField(label=_("Sort order"), required=False, initial=0)

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        # A new category goes under a category of the first three levels at most.
        choices, by_id = category_choices(
            tenant_id, empty=_("(first level)"), max_level=MAX_CATEGORY_LEVEL - 1
        )
        self.fields["parent"].choices = choices
        self.fields["parent"].by_id = by_id


class CategoryMoveForm(forms.Form):
    parent = CategoryField(label=_("Move under"), required=False)

    def __init__(self, *args, tenant_id: int, category: ProductCategory | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices, by_id = category_choices(
            tenant_id, empty=_("(first level)"), max_level=MAX_CATEGORY_LEVEL - 1
        )
        if category is not None:
            # Not into itself or below it (the service refuses it too).
            below = {pk for pk, c in by_id.items() if c.path.startswith(category.path)}
            choices = [c for c in choices if c[0] == "" or c[0] not in below]
        self.fields["parent"].choices = choices
        self.fields["parent"].by_id = by_id


class ProductBatchForm(forms.Form):
    """The list's batch bar: 上架 / 下架 for the ticked products."""

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    action = forms.ChoiceField(choices=Product.Status.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        posted = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in posted if str(v).isdigit()]
        self.fields["ids"].error_messages["required"] = _("Select at least one product.")


class ProductImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("An .xlsx, .xls or .csv file with the template's columns."),
        widget=forms.ClearableFileInput(
            attrs={
                "accept": ".xlsx,.xlsm,.xls,.csv,.ods,.et,application/vnd.openxmlformats-"
                "officedocument.spreadsheetml.sheet"
            }
        ),
    )


# ---------------------------------------------------------------- the list's filters


class ProductFilter(ListFilterSet):
    """The product list's search (code, name, specification), category with everything
    below it, status, vehicle and order type."""

    q = django_filters.CharFilter(label=_("Code, name or specification"), method="search")
    category = django_filters.TypedChoiceFilter(
        label=_("Product category"), choices=(), coerce=int, method="in_category"
    )
    status = django_filters.ChoiceFilter(label=_("Status"), choices=Product.Status.choices)
    is_vehicle = django_filters.BooleanFilter(label=_("Vehicle"))
    order_type = django_filters.ModelChoiceFilter(
        label=_("Default order type"), queryset=_order_types
    )

    class Meta:
        model = Product
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenant_id = self.request.user.tenant_id if self.request is not None else 0
        # PERF: the tree is read once, for the choices and for the list's tree beside it.
        self.tree = catalogue.category_tree(tenant_id=tenant_id)
        choices, self.categories = category_choices(tenant_id, empty=_("All"), nodes=self.tree)
        self.filters["category"].extra["choices"] = choices

    def search(self, queryset, name, value):
        return queryset.filter(catalogue.search_q(value)) if value.strip() else queryset

    def in_category(self, queryset, name, value):
        category = self.categories.get(value)
        return queryset.filter(catalogue.in_category_q(category)) if category else queryset

    @property
    def chosen_category(self) -> ProductCategory | None:
        """The chosen category (the tree marks it), when the filters are valid."""
        if not (self.is_bound and self.is_valid()):
            return None
        return self.categories.get(self.form.cleaned_data.get("category"))
