"""转为客户 (one lead, or the selected ones) and the conversion statistics. Thin: parse,
one selector, at most one service, render."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from crm import masking
from crm.exceptions import ServiceError
from crm.idempotency import once
from crm.views.base import tenant_view
from crm.views.lists import back_url as _back
from leads import conversion
from leads.forms.convert import ConvertForm


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
        tenant_id=actor.tenant_id,
        may_create_opportunity=actor.can("opportunity.create"),
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
            opportunity=form.opportunity_data,
        )
    except ServiceError as exc:
        form.add_error(None, str(exc.message))
        return render(request, "leads/lead_convert.html", context, status=422)
    names = {"lead": lead, "customer": customer.name}
    if target is None:
        messages.success(request, _("%(lead)s is now the customer %(customer)s.") % names)
    else:
        messages.success(request, _("%(lead)s was merged into %(customer)s.") % names)
    if lead.converted_opportunity is not None:
        messages.success(
            request,
            _("The opportunity %(name)s was created with it.")
            % {"name": lead.converted_opportunity.name},
        )
        return redirect("opportunities:opportunity-detail", pk=lead.converted_opportunity.pk)
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


# The old page's range presets, all of which the reports' period offers under the same name.
_OLD_PRESETS = ("this_month", "last_month", "this_quarter", "this_year", "custom")


@tenant_view()
@require_GET
def lead_stats(request):
    """The lead conversion statistics moved into the reports (reports:leads, 线索转换率): an
    old link or bookmark lands there with its range and grouping (``period``/``date_from``/
    ``date_to`` become ``preset``/``first``/``last``)."""
    old = request.GET
    query = {}
    period = old.get("period") or ("custom" if old.get("date_from") or old.get("date_to") else "")
    if period in _OLD_PRESETS:
        query["preset"] = period
    if period == "custom":
        for before, after in (("date_from", "first"), ("date_to", "last")):
            if old.get(before):
                query[after] = old[before]
    if old.get("group") in ("owner", "campaign"):
        query["group"] = old["group"]
    target = reverse("reports:leads")
    return redirect(f"{target}?{urlencode(query)}" if query else target)
