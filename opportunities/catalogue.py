"""Reads of the product catalogue (wave2.md §2): the category tree, "this category and
below", the product list and one product for an actor, the picker's search, and a
customer's last sold price of a product.

Products and categories are tenant-wide catalogue data: every active user of the tenant
sees all of them (no data scope); another tenant's row is a 404 like a missing one.

Last sold prices come from **price sources**: a small registry that later documents (quotes,
contracts, orders) fill with ``register_price_source`` from their ``ready()``; today the
won opportunities' lines are the one source."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import User
from opportunities.models import (
    Opportunity,
    OpportunityLine,
    Product,
    ProductCategory,
    ProductStockChange,
)

PICKER_LIMIT = 20
SEARCH_MAX = 64

# The product list's sorts: key → order_by (PERF: each starts like an index or is cheap on a
# catalogue of a few thousand rows).
SORTS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "code": ("code", "id"),
    "-code": ("-code", "-id"),
    "price": ("price", "id"),
    "-price": ("-price", "-id"),
    "stock": ("stock", "id"),
    "-stock": ("-stock", "-id"),
    "created": ("-created_at", "-id"),
    "-created": ("created_at", "id"),
}
SORT_LABELS = {
    "name": pgettext_lazy("product catalogue", "Name"),
    "code": _("Product code"),
    "price": _("Price, lowest first"),
    "-price": _("Price, highest first"),
    "stock": _("Stock, lowest first"),
    "created": _("Newest first"),
}


# ---------------------------------------------------------------- categories


@dataclass
class TreeNode:
    """A category in the tree: its depth (0 for the first level) and its children."""

    category: ProductCategory
    depth: int
    children: list[TreeNode] = field(default_factory=list)
    product_count: int | None = None

    @property
    def pk(self) -> int:
        return self.category.pk

    @property
    def name(self) -> str:
        return self.category.name

    @property
    def label(self) -> str:
        """The name indented by depth (full-width spaces) for selects."""
        return "\u3000" * self.depth + self.category.name


def category_tree(*, tenant_id: int, with_counts: bool = False) -> list[TreeNode]:
    """The tenant's categories as a tree, flattened depth first (each node after its
    parent, siblings by sort order then name). PERF: one query (two with ``with_counts``:
    the products of each category, one GROUP BY)."""
    rows = list(
        ProductCategory.objects.filter(tenant_id=tenant_id).order_by("level", "sort", "name", "id")
    )
    counts: dict[int, int] = {}
    if with_counts:
        from django.db.models import Count

        counts = dict(
            Product.objects.filter(tenant_id=tenant_id)
            .values_list("category_id")
            .annotate(n=Count("id"))
            .order_by()
        )
    nodes = {
        row.pk: TreeNode(row, row.level - 1, product_count=counts.get(row.pk, 0)) for row in rows
    }
    roots: list[TreeNode] = []
    for row in rows:  # parents come first (ordered by level)
        node = nodes[row.pk]
        parent = nodes.get(row.parent_id) if row.parent_id else None
        (parent.children if parent else roots).append(node)
    flat: list[TreeNode] = []

    def walk(items: list[TreeNode]) -> None:
        for node in items:
            flat.append(node)
            walk(node.children)

    walk(roots)
    return flat


def category_label(category: ProductCategory, names: dict[int, str]) -> str:
    """「叉车/电动叉车/三支点」: the category's path in names (``names``: id → name of the
    tenant's categories, read once)."""
    ids = [int(part) for part in category.path.strip("/").split("/") if part.isdigit()]
    return "/".join(names.get(pk, "?") for pk in ids) or category.name


def category_names(*, tenant_id: int) -> dict[int, str]:
    """Every category's name by id (one query), for path labels."""
    return dict(ProductCategory.objects.filter(tenant_id=tenant_id).values_list("pk", "name"))


def category_get(*, actor: User, pk) -> ProductCategory:
    """One of the tenant's categories (404 otherwise)."""
    try:
        return ProductCategory.objects.get(tenant_id=actor.tenant_id, pk=int(pk))
    except (ProductCategory.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404 from exc


def category_and_below(category: ProductCategory) -> QuerySet:
    """The category and every category below it: one indexed ``path LIKE 'p%'``."""
    return ProductCategory.objects.filter(
        tenant_id=category.tenant_id, path__startswith=category.path
    )


def in_category_q(category: ProductCategory) -> Q:
    """Products of the category or of any category below it (one join on the path)."""
    return Q(category__path__startswith=category.path)


# ---------------------------------------------------------------- products


def product_base(*, actor: User) -> QuerySet:
    """Every product of the actor's tenant (the catalogue is visible to all its users)."""
    return Product.objects.filter(tenant_id=actor.tenant_id)


def product_list(*, actor: User, queryset: QuerySet | None = None, sort: str = "name") -> QuerySet:
    """The product list's rows in ``sort`` order with what a row shows (category, order
    type). PERF: one query for a page."""
    qs = product_base(actor=actor) if queryset is None else queryset
    return qs.select_related("category", "order_type").order_by(*SORTS.get(sort, SORTS["name"]))


def product_get_for_actor(*, actor: User, pk: int) -> Product:
    """One product of the actor's tenant (404 for a missing one or another tenant's)."""
    try:
        return (
            product_base(actor=actor)
            .select_related("category", "order_type", "created_by")
            .get(pk=pk)
        )
    except Product.DoesNotExist as exc:
        raise Http404 from exc


def stock_history(*, product: Product, limit: int = 50) -> list[ProductStockChange]:
    """The product's latest stock changes, newest first, with who made them (one query)."""
    return list(
        ProductStockChange.objects.filter(tenant_id=product.tenant_id, product=product)
        .select_related("changed_by")
        .order_by("-changed_at", "-id")[:limit]
    )


def search_q(text: str) -> Q:
    """Code, name or specification containing every word of ``text`` (3 吨 电动 …)."""
    condition = Q()
    for word in text.split()[:5]:
        condition &= Q(code__icontains=word) | Q(name__icontains=word) | Q(spec__icontains=word)
    return condition


def picker_search(
    *,
    actor: User,
    text: str = "",
    category: ProductCategory | None = None,
    limit: int = PICKER_LIMIT,
) -> list[Product]:
    """The picker's products: on sale only (off-sale products stay on old lines but are
    not offered), matching ``text`` by code, name or specification, in ``category`` and
    below; exact code matches first, then by name. At most ``limit`` (+1 read to tell
    there are more). PERF: one query."""
    qs = product_base(actor=actor).filter(status=Product.Status.ON_SALE)
    text = " ".join((text or "").split())[:SEARCH_MAX]
    if text:
        qs = qs.filter(search_q(text))
    if category is not None:
        qs = qs.filter(in_category_q(category))
    rows = list(qs.select_related("category").order_by("name", "spec", "id")[: limit + 1])
    if text:
        exact = text.lower()
        rows.sort(key=lambda p: 0 if p.code.lower() == exact else 1)
    return rows


# ---------------------------------------------------------------- last sold prices


@dataclass(frozen=True)
class SoldPrice:
    """What a customer last paid for a product: the unit price, the day and where it comes
    from (「赢单商机」, later 「订单」)."""

    price: Decimal
    on: datetime.date | None
    source: str | Promise


# A source: (tenant id, customer id, product ids) → {product id: SoldPrice}; a fixed number
# of queries whatever the number of products.
PriceSource = Callable[[int, int, Sequence[int]], dict[int, SoldPrice]]
_PRICE_SOURCES: list[PriceSource] = []


def register_price_source(source: PriceSource) -> PriceSource:
    """Add a source of sold prices (orders, contracts… from their app's ``ready()``)."""
    if source not in _PRICE_SOURCES:
        _PRICE_SOURCES.append(source)
    return source


def price_sources() -> list[PriceSource]:
    return list(_PRICE_SOURCES)


def last_sold_prices(
    *, tenant_id: int, customer_id: int, product_ids: Iterable[int]
) -> dict[int, SoldPrice]:
    """Each product's latest sold price to the customer over every registered source (the
    latest day wins). The caller has checked that the actor may see the customer.
    SECURITY: the answer is a price and a day, never the document it comes from."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    best: dict[int, SoldPrice] = {}
    for source in _PRICE_SOURCES:
        for pk, sold in source(tenant_id, customer_id, ids).items():
            current = best.get(pk)
            if current is None or (sold.on or datetime.date.min) > (
                current.on or datetime.date.min
            ):
                best[pk] = sold
    return best


def last_sold_price(*, tenant_id: int, customer_id: int, product_id: int) -> SoldPrice | None:
    return last_sold_prices(
        tenant_id=tenant_id, customer_id=customer_id, product_ids=[product_id]
    ).get(product_id)


def won_opportunity_prices(
    tenant_id: int, customer_id: int, product_ids: Sequence[int]
) -> dict[int, SoldPrice]:
    """The unit price of each product on the customer's latest won opportunity that has it
    (by close day, then the newest line). PERF: one query, two correlated subqueries using
    the (tenant, product) index of the lines."""
    lines = OpportunityLine.objects.filter(
        tenant_id=tenant_id,
        product=OuterRef("pk"),
        opportunity__customer_id=customer_id,
        opportunity__status=Opportunity.Status.WON,
    ).order_by("-opportunity__closed_date", "-id")
    rows = (
        Product.objects.filter(tenant_id=tenant_id, pk__in=product_ids)
        .annotate(
            sold_price=Subquery(lines.values("unit_price")[:1]),
            sold_on=Subquery(lines.values("opportunity__closed_date")[:1]),
        )
        .filter(sold_price__isnull=False)
        .values_list("pk", "sold_price", "sold_on")
    )
    label = _("Won opportunity")
    cent = Decimal("0.01")
    # (SQLite hands a subquery's decimal back without its scale.)
    return {pk: SoldPrice(Decimal(price).quantize(cent), on, label) for pk, price, on in rows}


register_price_source(won_opportunity_prices)
