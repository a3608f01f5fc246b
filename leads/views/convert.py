"""转为客户 (one lead, or the selected ones) and the conversion statistics. Thin: parse,
one selector, at most one service, render."""

from __future__ import annotations

from io import BytesIO

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from crm import masking
from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.views.base import tenant_view
from crm.views.lists import back_url as _back
from crm.xlsx import XLSX_CONTENT_TYPE, write_xlsx
from leads import conversion, stats
from leads.forms.convert import ConvertForm, StatsForm

EXPORT_RIGHTS = ("reports.view", "lead.export")


@tenant_view("lead.convert")
@once
def lead_convert(request, pk: int):
    """GET: the lead, the customers it may belong to (same name or phone; the invisible
    ones by name and owner only) and the choice merge / create. POST: convert, then the
    customer's page."""
    actor = request.user
    lead = conversion.lead_get_for_conversion(actor=actor, pk=pk)
    # The page shows the lead's phones: not those its pool hides from the actor.
    masking.prepare(actor, [lead])
    refusal = conversion.conversion_refusal(actor, lead)
    matches = conversion.conversion_matches(actor=actor, lead=lead) if refusal is None else []
    form = ConvertForm(
        request.POST if request.method == "POST" else None,
        matches=matches,
        default_name=conversion.customer_name_for(lead),
    )
    context = {"lead": lead, "refusal": refusal, "matches": matches, "form": form}
    if request.method != "POST":
        return render(request, "leads/lead_convert.html", context)
    if refusal is not None:
        messages.error(request, str(refusal.message))
        return render(request, "leads/lead_convert.html", context, status=422)
    if not form.is_valid():
        return render(request, "leads/lead_convert.html", context, status=422)
    target = next((r["customer"] for r in matches if r["customer"].pk == form.merge_into), None)
    try:
        customer = conversion.lead_convert(
            actor=actor,
            lead=lead,
            customer=target,
            contact=form.cleaned_data["contact"],
            data={"name": form.cleaned_data["name"]} if target is None else None,
        )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "leads/lead_convert.html", context, status=422)
    names = {"lead": lead, "customer": customer.name}
    if target is None:
        messages.success(request, _("%(lead)s is now the customer %(customer)s.") % names)
    else:
        messages.success(request, _("%(lead)s was merged into %(customer)s.") % names)
    return redirect("customers:customer-detail", pk=customer.pk)


@tenant_view("lead.convert")
@require_POST
@once(vary=("ids",))  # the list's batch form: its token stays while other rows are ticked
def lead_convert_batch(request):
    """转为客户 for the leads ticked in a list: all or nothing; back to the list."""
    back = _back(request, reverse("leads:lead-list"))
    raw = request.POST.getlist("ids")
    ids = [int(v) for v in raw if str(v).isdigit()]
    if len(ids) != len(raw):
        # A value that is not an id is a lead that does not exist: the batch is refused.
        messages.error(request, _("Some selected leads do not exist; nothing was converted."))
        return redirect(back)
    try:
        customers = conversion.lead_convert_batch(actor=request.user, leads=ids)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect(back)
    messages.success(
        request,
        ngettext(
            "%(count)d lead converted into customers.",
            "%(count)d leads converted into customers.",
            len(customers),
        )
        % {"count": len(customers)},
    )
    return redirect(back)


@tenant_view(any_of=("reports.view", "lead.convert", "lead.export", "lead.manage"))
@require_http_methods(["GET", "POST"])
def lead_stats(request):
    """查看销售线索转换情况: per person or campaign, over a range. Its 导出 button POSTs the
    page's own query string back and downloads the table (SECURITY: an export starts with a
    CSRF-protected POST only; a GET always shows the page)."""
    actor = request.user
    form = StatsForm(request.GET)
    context = {"active_nav": "lead-stats", "form": form, "stats": None}
    context["can_export"] = any(actor.can(code) for code in EXPORT_RIGHTS)
    exporting = request.method == "POST"
    if exporting and not context["can_export"]:
        raise PermissionDenied
    if not form.is_valid():
        return render(request, "leads/lead_stats.html", context, status=422 if exporting else 200)
    data = form.cleaned_data
    start, end = stats.day_bounds(data["first"], data["last"])
    result = stats.lead_conversion_stats(actor=actor, start=start, end=end, group_by=data["group"])
    if exporting:
        headers, rows = stats.stats_sheet(result)
        buffer = BytesIO()
        write_xlsx(buffer, headers, rows, title=_("Lead conversion"))
        response = HttpResponse(buffer.getvalue(), content_type=XLSX_CONTENT_TYPE)
        name = _("Lead conversion %(first)s-%(last)s.xlsx") % {
            "first": data["first"].strftime("%Y%m%d"),
            "last": data["last"].strftime("%Y%m%d"),
        }
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response
    context.update(
        stats=result,
        first=data["first"],
        last=data["last"],
        period=data["period"],
        group=data["group"],
        export_query=request.GET.urlencode(),
        today=timezone.localdate(),
    )
    return render(request, "leads/lead_stats.html", context)
