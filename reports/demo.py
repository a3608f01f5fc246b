"""The demo's report figures: the demo data is dated over the last 12 months, so its summary
is computed once it is loaded (registered after every other app's demo loader)."""

from __future__ import annotations

import datetime

from crm import demo
from crm.models import Tenant, User
from reports import stock, summary

DEMO_DAYS = 400


@demo.register
def load_report_figures(tenant: Tenant, users: dict[str, User]) -> None:
    today = summary.tenant_today(tenant)
    summary.refresh(tenant.pk, today - datetime.timedelta(days=DEMO_DAYS), today)
    stock.snapshot(tenant.pk, today)
