"""最近浏览: the records the user opened last (crm.recent), as the top bar's dropdown and as
a page of its own (the dropdown's link without JavaScript)."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from crm import recent
from crm.views.base import tenant_view


@tenant_view()
def recent_list(request):
    """The page, or for htmx the top bar's dropdown (loaded when it is first opened: the
    pages themselves read nothing for it). PERF: recent.recent_items' fixed queries."""
    template = "crm/recent_menu.html" if request.htmx else "crm/recent_list.html"
    response = render(request, template, {"items": recent.recent_items(request.user)})
    patch_vary_headers(response, ["HX-Request"])
    return response
