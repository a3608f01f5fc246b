"""The manager's dashboard (``/reports/``, issue 19 §7) and the workbench block of today's
follow-ups (wave2.md §14.3): the same figures the reports compute, for today, over the
viewer's own numbers (我的) or their data scope (团队).

* today's follow-ups: rows 跟进动态 / 客户拜访 / 电话 × columns 开发 / 签约 / 线索, each
  ``次数 / 客户数`` (leads cannot be visited): one query per column with conditional counts,
  through reports.followups (the same subjects and rules as 跟进动态统计);
* increment / stock today per customer status (增量/存量对比 for today, development
  customers).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils.translation import pgettext_lazy

from crm.models import Tenant
from reports import followups as fu
from reports import stock_report
from reports.periods import resolve, tenant_today
from reports.scope import ReportScope

ROWS = [
    ("all", pgettext_lazy("today's follow-ups", "Follow-ups"), None),
    ("visit", pgettext_lazy("today's follow-ups", "Visits"), "visit"),
    ("phone", pgettext_lazy("today's follow-ups", "Calls"), "phone"),
]


@dataclass
class Cell:
    times: int | None  # None: not counted (a lead is never visited)
    subjects: int | None
    link_times: str = ""
    link_subjects: str = ""


def today_followups(
    tenant: Tenant, user_ids, link=None, now: datetime.datetime | None = None
) -> list[tuple[str, object, list[Cell]]]:
    """``[(row key, label, [Cell per object])]`` for today, over the follow-ups written by
    ``user_ids`` (a report scope's, or the viewer alone); ``link(row, obj, measure)`` gives a
    number's drill-down (None: plain numbers)."""
    day = tenant_today(tenant, now)
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=tenant.tzinfo)
    end = start + datetime.timedelta(days=1)
    counts: dict[str, dict] = {}
    for obj in fu.OBJECTS:
        subject = fu.subject_field(obj)
        aggregates = {"all_n": Count("pk"), "all_c": Count(subject, distinct=True)}
        for key, _label, code in ROWS[1:]:
            only = Q(kind__code=code)
            aggregates[f"{key}_n"] = Count("pk", filter=only)
            aggregates[f"{key}_c"] = Count(subject, filter=only, distinct=True)
        counts[obj] = fu.followups(
            tenant_id=tenant.pk, obj=obj, start=start, end=end, user_ids=user_ids
        ).aggregate(**aggregates)
    table = []
    for key, label, _code in ROWS:
        cells = []
        for obj in fu.OBJECTS:
            if key == "visit" and obj == fu.LEADS:
                cells.append(Cell(None, None))
                continue
            n, c = counts[obj][f"{key}_n"], counts[obj][f"{key}_c"]
            cells.append(
                Cell(
                    n,
                    c,
                    link(key, obj, fu.TIMES) if link and n else "",
                    link(key, obj, fu.SUBJECTS) if link and c else "",
                )
            )
        table.append((key, label, cells))
    return table


def today_stock(tenant: Tenant, scope: ReportScope, link, now=None):
    """增量/存量对比 for today by customer status (development customers): the total row."""
    period = resolve("today", tenant_today(tenant, now))
    report = stock_report.increment_stock_report(
        tenant=tenant,
        period=period,
        scope=scope,
        field="status",
        lifecycle="development",
        link=link,
        now=now,
    )
    total = report.table.total
    values = stock_report.values_of(tenant.pk, "status")
    return [
        (
            label,
            total.values.get(f"in:{value}", 0),
            total.links.get(f"in:{value}"),
            total.values.get(f"stock:{value}", 0),
            total.links.get(f"stock:{value}"),
        )
        for value, label in values
    ]
