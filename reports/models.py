"""The reports' summary table (reports/summary.py): one figure per tenant, metric, day and user.

Report pages read it for past days and compute today live; the beat refreshes today every few
minutes and a nightly reconciliation recomputes recent days from the base tables, logging and
fixing any drift. Drill-downs never read it: they list the base rows."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import User
from crm.tenancy import TenantModel, scoped_manager, tenant_key_without_index


class DailyCount(TenantModel):
    """``value`` of ``metric`` (e.g. ``own+:created:development``) on the tenant-local ``day``
    attributed to ``user`` (the user gaining or losing a customer, the follow-up's author…)."""

    tenant = tenant_key_without_index()  # the unique constraint leads with tenant_id
    day = models.DateField(_("day"))
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    metric = models.CharField(_("metric"), max_length=60)
    value = models.BigIntegerField(_("value"), default=0)

    objects = scoped_manager()

    class Meta:
        verbose_name = _("daily figure")
        verbose_name_plural = _("daily figures")
        constraints = [
            # A report reads (tenant, metrics, days, users): this index answers it alone.
            models.UniqueConstraint(
                fields=["tenant", "metric", "day", "user"], name="dailycount_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.metric} {self.user_id}={self.value}"
