"""Every page fits a 390 px phone (issue 16 §2): no horizontal overflow, no cell narrower than
two characters, no short word broken one character per line.

The pages are every GET page of the tenant app, found the way the URL isolation matrix finds
them (tests/crm/test_url_matrix.py): every named URL of the resolver. A URL without a parameter
is visited as it is; a URL with one is visited with a demo object of the right kind
(``PARAM_PAGES``), or is declared POST only (``POST_ONLY``, checked to answer 405 to a GET) or
not a page (``NOT_PAGES``: downloads, fragments, JSON, actions). A new URL with a parameter that
is in none of them fails ``test_every_tenant_url_is_checked_or_declared``.

Each page is checked in chromium at 390×844 (a phone: ``is_mobile``, touch) with the demo data,
signed in as the demo's admin, and as rep1 and manager1 for the pages they see otherwise
(``PERSONA_PAGES``).
What a page must satisfy (``CHECK_SCRIPT``):

* the document is no wider than the screen (``scrollWidth <= clientWidth``); no box sticks out
  to the right; no element scrolls sideways inside the page, except the designed horizontal
  scrollers (``SIDEWAYS_SCROLLERS``: the record pages' tab bar);
* every visible element with text (table cell, button, chip, badge, tag, tab, label, link,
  heading, list item, span…) is at least two characters wide (its first two characters as its
  font draws them, without its padding);
* a short text (<= 6 characters: "有意向", "领取") or a date or time in them breaks only at its
  spaces, never inside a word ("无/购/买/意/向", "2026-11-/24").

All failures of a page are reported in one assertion message (URL, selector, text, width).
To stay quick, the pages of one persona are visited once, in one browser context, by whichever
of its tests runs first (demo data loaded once); every test then asserts on its page's result.

``PENDING``: pages being rebuilt, expected to fail (``xfail(strict=False)``) meanwhile;
empty since the list pages became cards and the record pages got their phone bar (issue 16).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import get_resolver, reverse
from django_scopes import scopes_disabled

from tests.crm.test_url_matrix import _walk

pytestmark = [pytest.mark.browser]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

# Pages expected to fail while they are being rebuilt (xfail, not strict): none now. A page
# put here must come out again in the same issue.
PENDING: set[str] = set()
PENDING_REASON = "rebuilt in issue 16 list pattern"

# Elements that are meant to scroll sideways inside the page.
SIDEWAYS_SCROLLERS = [".tabs-scroll", ".kanban"]  # .kanban: the board's columns (issue 20)

# URLs that are not pages, with the reason. Fragments' full pages are checked elsewhere.
NOT_PAGES: dict[str, str] = {
    "logout": "action (signs out)",
    "set_language": "action (POST only, Django's set_language)",
    "crm:notification-bell": "htmx fragment of the top bar (its page: every page)",
    "crm:notification-menu": "htmx fragment: the bell's dropdown",
    "crm:import-progress": "htmx fragment: the import progress bar (its page: import-detail)",
    "crm:import-errors": "file download (the error rows as xlsx)",
    "crm:export-download": "file download",
    "customers:attachment-download": "file download",
    "leads:lead-attachment-download": "file download",
    "customers:import-template": "file download (xlsx template)",
    "leads:lead-import-template": "file download (xlsx template)",
    "customers:customer-duplicate-check": "htmx fragment: the duplicate warning of the form",
    "leads:lead-duplicate-check": "htmx fragment: the duplicate warning of the form",
    "customers:customer-tab": "htmx fragment; its full page is customer-detail?tab=…",
    "leads:lead-tab": "htmx fragment; its full page is lead-detail?tab=…",
    "leads:lead-stats": "redirect to reports:leads (its old address), checked there",
    "opportunities:opportunity-tab": "htmx fragment; its page is opportunity-detail?tab=…",
    "opportunities:opportunity-attachment-download": "file download",
    "opportunities:product-image": "an image file",
    "opportunities:product-import-errors": "file download (the refused rows as xlsx)",
    "opportunities:product-import-template": "file download (xlsx template)",
}

# URLs that take only POST: a GET answers 405 (checked by the completeness test).
POST_ONLY: set[str] = {
    "crm:department-move",
    "crm:department-toggle",
    "crm:user-toggle",
    "crm:option-edit",
    "crm:option-move",
    "crm:notification-read",
    "crm:notification-read-all",
    "crm:import-confirm",
    "crm:import-cancel",
    "crm:import-remap",
    "crm:import-undo",
    "customers:customer-lock",
    "customers:customer-star",
    "customers:customer-participants",
    "customers:customer-participant-remove",
    "customers:followup-create",
    "customers:followup-comment",
    "customers:contact-create",
    "customers:attachment-create",
    "customers:attachment-delete",
    "customers:contact-delete",
    "customers:saved-search-create",
    "customers:saved-search-delete",
    "customers:customer-batch",
    "customers:customer-export",
    "customers:contact-export",
    "customers:followup-export",
    "customers:pool-claim",
    "customers:pool-assign",
    "customers:pool-move",
    "customers:pool-return",
    "customers:pool-export",
    "pools:group-delete",
    "pools:group-initialize",
    "leads:campaign-delete",
    "leads:rule-delete",
    "leads:rule-move",
    "leads:lead-batch",
    "leads:lead-convert-batch",
    "leads:lead-export",
    "leads:lead-followup-add",
    "leads:lead-attachment-add",
    "leads:lead-attachment-delete",
    "leads:pool-claim",
    "leads:pool-assign",
    "leads:pool-move",
    "leads:pool-return",
    "leads:pool-group-delete",
    "crm:role-delete",
    "crm:user-reset-password",
    "crm:reminder-webhook-save",
    "crm:reminder-webhook-delete",
    "crm:reminder-webhook-test",
    "crm:department-webhook-create",
    "crm:department-webhook-delete",
    "crm:department-webhook-test",
    "crm:delivery-retry",
    # Opportunities (issue 20).
    "opportunities:opportunity-export",
    "opportunities:opportunity-transfer",
    "opportunities:kanban-lose",
    "opportunities:stage-create",
    "opportunities:stage-delete",
    "opportunities:stage-move",
    "opportunities:opportunity-delete",
    "opportunities:opportunity-stage",
    "opportunities:opportunity-win",
    "opportunities:opportunity-lose",
    "opportunities:opportunity-reopen",
    "opportunities:opportunity-contact-add",
    "opportunities:opportunity-contact-remove",
    "opportunities:opportunity-contact-primary",
    "opportunities:opportunity-participants-add",
    "opportunities:opportunity-participant-remove",
    "opportunities:opportunity-followup-add",
    "opportunities:opportunity-attachment-add",
    "opportunities:opportunity-attachment-delete",
    # Products (issue 20).
    "opportunities:product-batch",
    "opportunities:product-export",
    "opportunities:product-delete",
    "opportunities:product-image-delete",
    "opportunities:product-import-confirm",
    "opportunities:category-rename",
    "opportunities:category-move",
    "opportunities:category-delete",
}


@dataclass
class Demo:
    """The demo objects the pages with a parameter are visited with (tenant ``demo``)."""

    customer: object
    other_customer: object
    contact: object
    lead: object
    lead_like_customer: object  # its company is the name of two customers: matches to show
    department: object
    user: object
    role: object
    customer_pool: object
    lead_pool: object
    campaign: object
    rule: object
    import_previewed: object
    import_done: object
    webhook: object  # a department's group bot (the reminder settings)
    opportunity: object  # rep1's open opportunity (with lines)
    lost_opportunity: object  # rep1's lost one
    first_stage: object  # the first open stage
    product: object
    product_import_key: str  # the admin's catalogue import waiting for its confirmation


def _customer_tabs() -> list[str]:
    from customers.views.customers import detail_tabs

    return [key for key, _label in detail_tabs()]


def _lead_tabs() -> list[str]:
    from leads.views.leads import TABS

    return [key for key, _label in TABS]


def _opportunity_tabs() -> list[str]:
    from opportunities.views.opportunities import TABS

    return [key for key, _label in TABS]


def _report(name: str, query: str = "") -> Callable[[Demo], str]:
    return lambda d: reverse(name) + query


# name -> {variant: url builder(demo)}; the variant ("" for one) names the test. Every URL
# with a parameter that is a page is here, and the pages that need a query for their content.
PARAM_PAGES: dict[str, dict[str, Callable[[Demo], str]]] = {
    "crm:department-edit": {"": lambda d: _url("crm:department-edit", d.department)},
    "crm:user-edit": {"": lambda d: _url("crm:user-edit", d.user)},
    "crm:role-edit": {"": lambda d: _url("crm:role-edit", d.role)},
    "crm:department-webhook-edit": {"": lambda d: _url("crm:department-webhook-edit", d.webhook)},
    "crm:import-detail": {
        "previewed": lambda d: _url("crm:import-detail", d.import_previewed),
        "done": lambda d: _url("crm:import-detail", d.import_done),
    },
    "customers:customer-detail": {
        tab: (lambda d, tab=tab: _url("customers:customer-detail", d.customer) + f"?tab={tab}")
        for tab in _customer_tabs()
    },
    "customers:customer-edit": {"": lambda d: _url("customers:customer-edit", d.customer)},
    "customers:contact-edit": {"": lambda d: _url("customers:contact-edit", d.contact)},
    "pools:group-edit": {"": lambda d: _url("pools:group-edit", d.customer_pool)},
    "leads:lead-detail": {
        tab: (lambda d, tab=tab: _url("leads:lead-detail", d.lead) + f"?tab={tab}")
        for tab in _lead_tabs()
    },
    "leads:lead-edit": {"": lambda d: _url("leads:lead-edit", d.lead)},
    "leads:lead-convert": {
        "": lambda d: _url("leads:lead-convert", d.lead),
        "matches": lambda d: _url("leads:lead-convert", d.lead_like_customer),
    },
    "leads:campaign-edit": {"": lambda d: _url("leads:campaign-edit", d.campaign)},
    "leads:rule-edit": {"": lambda d: _url("leads:rule-edit", d.rule)},
    "leads:pool-group-edit": {"": lambda d: _url("leads:pool-group-edit", d.lead_pool)},
    # Pages without a parameter that show their content only for a query.
    "reports:leads": {
        "": lambda d: reverse("reports:leads"),
        "campaign-year": lambda d: reverse("reports:leads") + "?preset=this_year&group=campaign",
    },
    "reports:leads-list": {
        "": lambda d: reverse("reports:leads-list") + "?preset=this_year&column=new",
        "campaign": lambda d: (
            reverse("reports:leads-list") + "?preset=this_year&group=campaign&column=followed"
        ),
    },
    "reports:increment": {
        "": lambda d: reverse("reports:increment"),
        "year-net": lambda d: reverse("reports:increment") + "?preset=this_year&mode=net",
    },
    "reports:stock": {
        "": lambda d: reverse("reports:stock"),
        "tags": lambda d: reverse("reports:stock") + "?preset=this_year&dimension=tag",
    },
    "reports:stock-rows": {
        "": lambda d: (
            reverse("reports:stock-rows")
            + "?preset=this_year&kind=stock&value="
            + str(d.customer.status_id or 0)
        ),
    },
    "reports:increment-events": {
        "": lambda d: (
            reverse("reports:increment-events") + "?preset=this_year&side=in&column=created"
        ),
    },
    "reports:pool": {
        "": lambda d: reverse("reports:pool"),
        "year": lambda d: reverse("reports:pool") + "?preset=this_year",
    },
    "reports:pool-events": {
        "": lambda d: reverse("reports:pool-events") + "?preset=this_year&side=in&column=",
        "stock": lambda d: reverse("reports:pool-events") + "?side=stock&column=",
    },
    "reports:followups-list": {
        "": lambda d: reverse("reports:followups-list") + "?preset=this_year&type=total&measure=n",
    },
    "reports:visits-list": {
        "": lambda d: reverse("reports:visits-list") + "?day=total&measure=c",
    },
    "reports:calls-list": {
        "": lambda d: reverse("reports:calls-list") + "?object=leads&day=total&measure=n",
    },
    "customers:customer-duplicates": {
        "": lambda d: reverse("customers:customer-duplicates"),
        "found": lambda d: reverse("customers:customer-duplicates") + "?name=有限公司",
    },
    "customers:customer-merge": {
        "": lambda d: (
            reverse("customers:customer-merge") + f"?ids={d.customer.pk}&ids={d.other_customer.pk}"
        )
    },
    # Opportunities and products (issue 20).
    "opportunities:opportunity-detail": {
        **{
            tab: (
                lambda d, tab=tab: (
                    _url("opportunities:opportunity-detail", d.opportunity) + f"?tab={tab}"
                )
            )
            for tab in _opportunity_tabs()
        },
        "lost": lambda d: _url("opportunities:opportunity-detail", d.lost_opportunity),
    },
    "opportunities:opportunity-edit": {
        "": lambda d: _url("opportunities:opportunity-edit", d.opportunity)
    },
    "opportunities:opportunity-lines": {
        "": lambda d: _url("opportunities:opportunity-lines", d.opportunity)
    },
    "opportunities:opportunity-create": {
        "": lambda d: reverse("opportunities:opportunity-create"),
        "customer": lambda d: (
            reverse("opportunities:opportunity-create") + f"?customer={d.customer.pk}"
        ),
    },
    "opportunities:opportunity-kanban": {
        "": lambda d: reverse("opportunities:opportunity-kanban"),
        "all": lambda d: reverse("opportunities:opportunity-kanban") + "?view=all",
    },
    "opportunities:stage-edit": {"": lambda d: _url("opportunities:stage-edit", d.first_stage)},
    "opportunities:product-detail": {"": lambda d: _url("opportunities:product-detail", d.product)},
    "opportunities:product-edit": {"": lambda d: _url("opportunities:product-edit", d.product)},
    "opportunities:product-stock": {"": lambda d: _url("opportunities:product-stock", d.product)},
    "opportunities:product-import-preview": {
        "": lambda d: reverse(
            "opportunities:product-import-preview", kwargs={"key": d.product_import_key}
        )
    },
    "reports:funnel": {
        "": _report("reports:funnel"),
        "created-year": _report("reports:funnel", "?preset=this_year&basis=created"),
    },
    "reports:stage-advance": {
        "": _report("reports:stage-advance"),
        "department": lambda d: (
            reverse("reports:stage-advance") + f"?preset=this_year&department={d.department.pk}"
        ),
    },
    "reports:lost-reasons": {"": _report("reports:lost-reasons")},
    "reports:deals": {
        "": _report("reports:deals"),
        "person": _report("reports:deals", "?group=person"),
    },
    "reports:opportunities-list": {
        "": _report(
            "reports:opportunities-list",
            "?preset=this_year&report=funnel&table=funnel&row=won&column=count",
        ),
        "lost": _report("reports:opportunities-list", "?preset=this_year&report=lost&column=count"),
        "advance": lambda d: (
            reverse("reports:opportunities-list")
            + f"?preset=this_year&report=advance&column=reached&row={d.first_stage.pk}"
        ),
    },
}

# The pages rep1 sees otherwise than the admin (own data scope, fewer buttons), checked as rep1 too.
PERSONA_PAGES: dict[str, set[str]] = {}
PERSONA_PAGES["rep1"] = {
    "crm:workbench",
    "crm:notification-list",
    "crm:password-change",
    "crm:reminder-preferences",
    "customers:customer-list",
    "customers:customer-create",
    "customers:customer-detail",
    "customers:customer-edit",
    "customers:contact-list",
    "customers:contact-edit",
    "customers:followup-feed",
    "customers:pool-list",
    "leads:lead-list",
    "leads:lead-create",
    "leads:lead-detail",
    "leads:lead-edit",
    "leads:pool-list",
    # Opportunities (issue 20): rep1's own, without the settings' buttons.
    "opportunities:opportunity-list",
    "opportunities:opportunity-kanban",
    "opportunities:opportunity-create",
    "opportunities:opportunity-detail",
    "opportunities:opportunity-edit",
    "opportunities:opportunity-lines",
    "opportunities:product-list",
    "opportunities:product-detail",
    "opportunities:product-picker",
    "opportunities:category-list",
}
# A manager's workbench has the per-rep table; the stats cover the team.
PERSONA_PAGES["manager1"] = {
    "crm:workbench",
    "reports:leads",
    "reports:leads-list",
    "reports:dashboard",
    "reports:increment",
    "reports:increment-events",
    "reports:stock",
    "reports:stock-rows",
    "reports:followups",
    "reports:followups-list",
    "reports:visits",
    "reports:calls",
    "reports:pool",
    "reports:pool-events",
    # The opportunity reports (issue 20).
    "reports:funnel",
    "reports:stage-advance",
    "reports:lost-reasons",
    "reports:deals",
    "reports:opportunities-list",
    "opportunities:opportunity-list",
    "opportunities:opportunity-kanban",
}

# Pages checked as one persona only, with the status they answer: the sign-in page (nobody
# signed in) and the error pages, reached on purpose. id: (persona, expected status, url).
SPECIAL_PAGES: dict[str, tuple[str, int, Callable[[Demo], str]]] = {
    "login": ("guest", 200, lambda d: reverse("login")),
    "404": (
        "admin",
        404,
        lambda d: reverse("customers:customer-detail", kwargs={"pk": 999_999_999}),
    ),
    "403": ("rep1", 403, lambda d: reverse("crm:user-list")),
}


def _url(name: str, obj) -> str:
    return reverse(name, kwargs={"pk": obj.pk})


def tenant_urls() -> dict[str, object]:
    """Every named URL of the tenant app (the platform admin is out, as in the matrix)."""
    return {
        name: pattern
        for name, pattern in _walk(get_resolver().url_patterns)
        if not name.startswith("admin:")
    }


def _plain_pages() -> list[str]:
    return sorted(
        name
        for name, pattern in tenant_urls().items()
        if not pattern.pattern.converters
        and name not in NOT_PAGES
        and name not in POST_ONLY
        and name not in SPECIAL_PAGES
        and name not in PARAM_PAGES
    )


def page_cases() -> list[tuple[str, str, str]]:
    """(persona, page id, url name) for every page to check."""
    pages = [(name, name) for name in _plain_pages()]
    for name, variants in sorted(PARAM_PAGES.items()):
        pages += [(f"{name}?{variant}" if variant else name, name) for variant in variants]
    cases = [("admin", page_id, name) for page_id, name in pages]
    for persona, names in PERSONA_PAGES.items():
        cases += [(persona, page_id, name) for page_id, name in pages if name in names]
    cases += [(persona, page_id, page_id) for page_id, (persona, *_r) in SPECIAL_PAGES.items()]
    return cases


def _page_url(page_id: str, name: str, demo: Demo) -> tuple[str, int]:
    if page_id in SPECIAL_PAGES:
        _persona, status, build = SPECIAL_PAGES[page_id]
        return build(demo), status
    if name in PARAM_PAGES:
        variant = page_id.partition("?")[2]
        return PARAM_PAGES[name][variant](demo), 200
    return reverse(name), 200


# ---------------------------------------------------------------- the check in the browser

CHECK_SCRIPT = """
(scrollers) => {
  const width = document.documentElement.clientWidth;
  const result = {
    clientWidth: width,
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    wide: [], sideways: [], narrow: [], broken: [], checked: 0,
  };
  const label = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    const classes = [...el.classList].slice(0, 3);
    if (classes.length) name += "." + classes.join(".");
    if ((name === "td" || name === "th") && el.parentElement) {
      name += ":nth-child(" + ([...el.parentElement.children].indexOf(el) + 1) + ")";
    }
    return name;
  };
  const path = (el) => {
    const parts = [];
    for (let node = el; node && node !== document.body && parts.length < 4;
         node = node.parentElement) {
      parts.unshift(label(node));
    }
    return parts.join(" > ");
  };
  const text = (el) => (el.innerText || el.textContent || "").replace(/\\s+/g, " ").trim();
  const shown = (el) => {
    if (!el.getClientRects().length) return false;
    // Not rendered: inside a closed <details> (content-visibility), display: none…
    if (el.checkVisibility && !el.checkVisibility({contentVisibilityAuto: true})) return false;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") return false;
    if (el.closest(".sr-only, [hidden], [aria-hidden=true]")) return false;
    const rect = el.getBoundingClientRect();
    return rect.right > 0 && rect.width > 0 && rect.height > 0;  // not off-canvas (the menu)
  };
  const clipped = (el) => {
    // Inside something that scrolls or clips sideways (its overflow is reported on its own).
    for (let node = el.parentElement; node && node !== document.documentElement;
         node = node.parentElement) {
      const x = getComputedStyle(node).overflowX;
      if (x !== "visible") return true;
    }
    return false;
  };
  const fixedOffCanvas = (el) => {
    for (let node = el; node; node = node.parentElement) {
      if (getComputedStyle(node).position === "fixed") {
        const rect = node.getBoundingClientRect();
        return rect.right <= 0 || rect.left >= width;
      }
    }
    return false;
  };
  const all = [...document.body.querySelectorAll("*")];

  // 1. Boxes that stick out to the right (outermost ones only).
  const wide = new Set();
  for (const el of all) {
    if (!shown(el) || clipped(el) || fixedOffCanvas(el)) continue;
    const rect = el.getBoundingClientRect();
    if (rect.right > width + 1) wide.add(el);
  }
  for (const el of wide) {
    if (el.parentElement && wide.has(el.parentElement)) continue;
    const rect = el.getBoundingClientRect();
    result.wide.push({selector: path(el), text: text(el).slice(0, 40),
                      width: Math.round(rect.width), right: Math.round(rect.right)});
  }

  // 2. Elements that scroll sideways inside the page (a table in a scrolling wrapper).
  for (const el of all) {
    if (!shown(el) || el.matches("textarea, select, input, pre, code")) continue;
    if (scrollers.some((s) => el.matches(s))) continue;
    const x = getComputedStyle(el).overflowX;
    if ((x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1) {
      result.sideways.push({selector: path(el), text: text(el).slice(0, 40),
                            width: el.clientWidth, scrollWidth: el.scrollWidth});
    }
  }

  // 3. Cells, buttons, chips narrower than two characters; short words broken per character.
  const cells = ("td, th, button, .btn, .badge, .chip, .tag, .tabs a, label, summary, "
    + "a, dt, dd, li, h1, h2, h3, p, span, strong, small, time");
  // A text node (a word, a name, a date: what the markup keeps together) that is short
  // (<= 6 characters) or a date or time may break only at its spaces.
  const dateLike = /^[0-9][0-9:\\-\\/.年月日]*$/;
  const brokenWord = (el, fontSize) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const words = node.textContent.replace(/\\s+/g, " ").trim();
      if (!words) continue;
      // It may break at its spaces ("· 陈敏磊"), never inside a word.
      const tokens = words.split(" ");
      const short = [...words].length <= 6;
      if (!short && !(words.length <= 20 && tokens.every((t) => dateLike.test(t)))) continue;
      const allowed = tokens.length;
      range.selectNodeContents(node);
      const tops = [];
      for (const rect of range.getClientRects()) {
        if (rect.width < 1 || rect.height < 1) continue;
        if (!tops.some((top) => Math.abs(top - rect.top) < fontSize * 0.5)) tops.push(rect.top);
      }
      if (tops.length > allowed) return {words, lines: tops.length};
    }
    return null;
  };
  const measure = document.createElement("canvas").getContext("2d");
  for (const el of document.body.querySelectorAll(cells)) {
    if (!shown(el) || fixedOffCanvas(el)) continue;
    const words = text(el);
    if (!words) continue;
    result.checked += 1;
    const style = getComputedStyle(el);
    const fontSize = parseFloat(style.fontSize) || 14;
    const rect = el.getBoundingClientRect();
    // The room for text: the box without its padding and borders.
    const room = rect.width - ["paddingLeft", "paddingRight", "borderLeftWidth",
      "borderRightWidth"].reduce((sum, key) => sum + (parseFloat(style[key]) || 0), 0);
    // Two characters of the text (one if it has one), as wide as its font draws them.
    measure.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const need = measure.measureText([...words].slice(0, 2).join("")).width;
    if (room + 0.5 < need) {
      result.narrow.push({selector: path(el), text: words.slice(0, 40),
                          width: Math.round(room), need: Math.ceil(need)});
      continue;
    }
    const broken = brokenWord(el, fontSize);
    if (broken) {
      result.broken.push({selector: path(el), text: broken.words.slice(0, 40),
                          width: Math.round(rect.width), lines: broken.lines});
    }
  }
  return result;
}
"""

# Seconds to wait for htmx requests started by the page itself (hx-trigger="load").
SETTLE_SCRIPT = "() => !document.querySelector('.htmx-request')"
MAX_PER_KIND = 12


@dataclass
class Visit:
    url: str
    status: int | None
    expected: int
    result: dict | None
    error: str = ""

    def problems(self) -> list[str]:
        if self.error:
            return [f"could not load: {self.error}"]
        found = []
        if self.status != self.expected:
            found.append(f"answered {self.status}, expected {self.expected}")
        r = self.result or {}
        if not r:
            return found
        if not r["checked"]:
            found.append("the check saw no visible cell, button or label: the page did not render")
        if r["clientWidth"] > PHONE["viewport"]["width"]:
            found.append(f"the layout viewport is {r['clientWidth']} px wide, not 390")
        if r["scrollWidth"] > r["clientWidth"]:
            found.append(
                f"the page is {r['scrollWidth']} px wide on a {r['clientWidth']} px screen"
            )
        kinds = [
            ("wide", "sticks out to {right} px ({width} px wide)"),
            ("sideways", "scrolls sideways: {scrollWidth} px in {width} px"),
            ("narrow", "narrower than two characters: {width} px of text room < {need} px"),
            ("broken", "short text broken over {lines} lines at {width} px"),
        ]
        for kind, what in kinds:
            items = r[kind]
            for item in items[:MAX_PER_KIND]:
                found.append(f"{item['selector']} {item['text']!r}: " + what.format(**item))
            if len(items) > MAX_PER_KIND:
                found.append(f"… and {len(items) - MAX_PER_KIND} more {kind} elements")
        return found


# PHONE_LAYOUT_SCREENSHOTS=/some/dir: a full-page screenshot of every page, for a person to see.
SCREENSHOTS = os.environ.get("PHONE_LAYOUT_SCREENSHOTS", "")

# persona -> page id -> Visit, filled once per persona by the first test that needs it.
VISITS: dict[str, dict[str, Visit]] = {}


def _demo_objects() -> Demo:
    from crm.models import Department, ExportJob, Role, Tenant, User
    from customers.models import Contact, Customer
    from leads.models import AssignmentRule, Campaign, Lead
    from pools.models import PoolGroup
    from tests.customers.factories import make_customer
    from tests.leads.factories import make_lead

    with scopes_disabled():
        tenant = Tenant.objects.get(slug="demo")
        admin = User.objects.get(username="admin")
        rep1 = User.objects.get(username="rep1")
        customer = (
            Customer.objects.filter(tenant=tenant, owner=rep1, contacts__isnull=False)
            .order_by("pk")
            .first()
        )
        _attachment(customer, rep1)
        lead = Lead.objects.filter(tenant=tenant, owner=rep1).order_by("pk").first()
        like = make_lead(tenant, rep1, name="周海涛", company=customer.name, mobile="13912345678")
        make_customer(tenant, None, name=customer.name)  # the same name, in nobody's hands
        export = ExportJob.objects.create(
            tenant=tenant, kind="customers", status="done", created_by=admin, row_count=1
        )
        from django.core.files.base import ContentFile

        export.file.save("customers.xlsx", ContentFile(b"PK-demo"), save=True)
        previewed, done = _import_jobs(admin)
        webhook = _reminder_objects(tenant, rep1)
        opportunity, lost_opportunity, first_stage, product = _opportunity_objects(tenant, rep1)
        return Demo(
            customer=customer,
            other_customer=Customer.objects.filter(tenant=tenant, owner=rep1)
            .exclude(pk=customer.pk)
            .order_by("pk")
            .first(),
            contact=Contact.objects.filter(customer=customer).order_by("pk").first(),
            lead=lead,
            lead_like_customer=like,
            department=Department.objects.get(tenant=tenant, name="销售部"),
            user=rep1,
            role=Role.objects.get(tenant=tenant, builtin=Role.Builtin.SALES_REP),
            customer_pool=PoolGroup.objects.filter(tenant=tenant, kind="customer")
            .order_by("pk")
            .first(),
            lead_pool=PoolGroup.objects.filter(tenant=tenant, kind="lead").order_by("pk").first(),
            campaign=Campaign.objects.filter(tenant=tenant).order_by("pk").first(),
            rule=AssignmentRule.objects.filter(tenant=tenant).order_by("pk").first(),
            import_previewed=previewed,
            import_done=done,
            webhook=webhook,
            opportunity=opportunity,
            lost_opportunity=lost_opportunity,
            first_stage=first_stage,
            product=product,
            product_import_key=_product_import(admin),
        )


def _opportunity_objects(tenant, rep1):
    """rep1's first open opportunity with lines (the demo's), a lost one, the first open
    stage, the first product on sale."""
    from opportunities.models import Opportunity, OpportunityStage, Product

    opportunities = Opportunity.objects.filter(tenant=tenant, owner=rep1).order_by("pk")
    opportunity = opportunities.filter(status="open", lines__isnull=False).first()
    lost = opportunities.filter(status="lost").first()
    stage = OpportunityStage.objects.filter(tenant=tenant, kind="open").order_by("sort").first()
    product = Product.objects.filter(tenant=tenant, status="on_sale").order_by("pk").first()
    assert opportunity and lost and stage and product, "the demo has opportunities and products"
    return opportunity, lost, stage, product


def _product_import(admin) -> str:
    """A catalogue import of the admin's waiting for its confirmation (the template's
    example row: the preview's new product)."""
    from crm.tenancy import tenant_scope
    from opportunities import importing

    with tenant_scope(admin.tenant_id):
        data = importing.template_file(tenant_id=admin.tenant_id)
        outcome = importing.import_check(actor=admin, data=data, file_name="产品目录.xlsx")
        return importing.pending_save(
            actor=admin, data=data, file_name="产品目录.xlsx", outcome=outcome
        )


def _reminder_objects(tenant, rep1):
    """Group bots (rep1's own and the sales department's) and delivery log rows of every
    status, one with a long error (the reminder pages, issue 18)."""
    from crm.models import Delivery, Department, Webhook

    department = Department.objects.get(tenant=tenant, name="销售部")
    # The demo may bring its own (one per department and per user).
    webhook, _created = Webhook.objects.get_or_create(
        tenant=tenant,
        department=department,
        defaults={
            "provider": "feishu",
            "url": "https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef0123456789",
            "secret": "SECdemo",
        },
    )
    Webhook.objects.get_or_create(
        tenant=tenant,
        user=rep1,
        defaults={
            "provider": "dingtalk",
            "url": "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef0123456789",
        },
    )
    for status, error in [
        (
            "failed",
            "钉钉拒绝了消息：签名不匹配（310000 sign not match），请检查机器人的加签密钥。" * 2,
        ),
        ("sent", ""),
        ("pending", "连接超时"),
    ]:
        Delivery.objects.create(
            tenant=tenant,
            channel="webhook",
            webhook=webhook,
            recipient=rep1,
            target=webhook.url,
            subject="跟进提醒：上海浦江精密机械有限公司（15 分钟后）",
            status=status,
            attempts=3 if error else 1,
            last_error=error,
        )
    Delivery.objects.create(
        tenant=tenant,
        channel="email",
        recipient=rep1,
        target="rep1@demo.example.com",
        digest_on=datetime.date(2000, 1, 3),
        subject="今日提醒摘要（3 条）",
        status="sent",
    )
    return webhook


def _attachment(customer, user):
    from django.core.files.base import ContentFile

    from customers.models import Attachment

    attachment = Attachment(
        tenant_id=customer.tenant_id,
        record=customer,
        customer=customer,
        original_name="2026年度采购合同（盖章版）.pdf",
        size=123_456,
        content_type="application/pdf",
        uploaded_by=user,
    )
    attachment.file.save("contract.pdf", ContentFile(b"%PDF-demo\n"), save=False)
    attachment.save()


def _import_jobs(admin):
    """Two customer imports by the admin: one checked and waiting, one done."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm import importing
    from crm.models import ImportJob
    from crm.tenancy import tenant_scope
    from pools.services import default_group_for
    from tests.crm import spreadsheet_files as files

    headers = ["客户名称", "联系人", "联系电话", "客户级别", "下次跟进时间", "备注"]
    rows = [
        [f"长沙{city}工程机械有限公司", "王经理", f"1390000{i:04d}", "", "", "展会留的名片"]
        for i, city in enumerate(["岳麓", "天心", "雨花", "开福", "望城", "芙蓉"])
    ]
    rows += [["", "李", "1380013", "", "", ""], ["坏电话公司", "", "abc", "", "", ""]]
    jobs = []
    with tenant_scope(admin.tenant_id):
        group = default_group_for(admin.tenant_id, "customer")
        for index in range(2):
            upload = SimpleUploadedFile(
                f"客户名单{index}.xlsx",
                files.xlsx_bytes(
                    headers, [[r[0] and f"{r[0]}{index or ''}", *r[1:]] for r in rows]
                ),
            )
            job = importing.import_start(
                actor=admin,
                kind=ImportJob.Kind.CUSTOMERS,
                upload=upload,
                options={"target": "pool", "pool_group": group.pk},
            )
            job.refresh_from_db()
            jobs.append(job)
        importing.import_confirm(actor=admin, job=jobs[1])
        jobs[1].refresh_from_db()
    return jobs


CJK_FONT_MISSING = (
    "no Chinese font for chromium (fc-list :lang=zh is empty): the widths measured would not be "
    "those of Chinese text; apt-get install fonts-wqy-microhei (or fonts-noto-cjk)"
)


@functools.cache
def has_cjk_font() -> bool:
    """Whether fontconfig (which chromium asks) has a font with Chinese glyphs."""
    try:
        found = subprocess.run(
            ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found.stdout.strip())


def _visit_all(request, persona: str, live_server, new_context, sign_in) -> dict[str, Visit]:
    request.getfixturevalue("_media_in_tmp")
    request.getfixturevalue("demo_data")
    demo = _demo_objects()
    context = new_context(**PHONE)
    page = context.pages[0] if context.pages else context.new_page()
    if persona != "guest":
        sign_in(page, persona)
    visits = {}
    for case_persona, page_id, name in page_cases():
        if case_persona != persona:
            continue
        url, expected = _page_url(page_id, name, demo)
        visits[page_id] = _visit(page, live_server.url + url, expected)
        if SCREENSHOTS:
            name = f"{persona}-{page_id}".replace(":", "_").replace("?", "_")
            page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)
    return visits


def _visit(page, url: str, expected: int) -> Visit:
    try:
        response = page.goto(url)
        # A page that keeps polling is checked as it is.
        with contextlib.suppress(Exception):
            page.wait_for_function(SETTLE_SCRIPT, timeout=3_000)
        result = page.evaluate(CHECK_SCRIPT, SIDEWAYS_SCROLLERS)
    except Exception as error:  # reported as the page's failure
        page.goto("about:blank")  # the next page must not be taken for this one
        return Visit(url, None, expected, None, error=str(error).splitlines()[0])
    return Visit(url, response.status if response else None, expected, result)


@pytest.fixture
def _media_in_tmp(settings, tmp_path_factory):
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


def _params():
    for persona, page_id, _name in page_cases():
        marks = []
        if page_id.partition("?")[0] in PENDING:
            marks.append(pytest.mark.xfail(reason=PENDING_REASON, strict=False))
        yield pytest.param(persona, page_id, marks=marks, id=f"{persona}-{page_id}")


@pytest.mark.parametrize(("persona", "page_id"), list(_params()))
def test_page_fits_a_phone(
    request, persona, page_id, transactional_db, live_server, new_context, sign_in
):
    if not has_cjk_font():
        pytest.skip(CJK_FONT_MISSING)
    # The demo data is loaded (dynamically) only by the first test of a persona; if that
    # fails, the persona's other tests fail at once with the same error.
    if persona not in VISITS:
        VISITS[persona] = {}
        try:
            VISITS[persona] = _visit_all(request, persona, live_server, new_context, sign_in)
        except Exception as error:
            VISITS[persona] = error
            raise
    if isinstance(VISITS[persona], Exception):
        pytest.fail(f"visiting the pages as {persona} failed: {VISITS[persona]!r}")
    visit = VISITS[persona][page_id]
    problems = visit.problems()
    assert not problems, f"{page_id} as {persona} at 390 px, {visit.url}:\n  " + "\n  ".join(
        problems
    )


def _dummy_kwargs(pattern) -> dict:
    return {
        key: ("overview" if "slug" in type(conv).__name__.lower() else 999_999_999)
        for key, conv in pattern.pattern.converters.items()
    }


def test_every_tenant_url_is_checked_or_declared(world, login):
    """A URL with a parameter that is neither mapped to a demo object, nor POST only, nor
    declared not a page fails here; the POST-only list is checked to answer 405 to a GET."""
    urls = tenant_urls()
    with_params = {name for name, p in urls.items() if p.pattern.converters}
    declared = set(PARAM_PAGES) | POST_ONLY | set(NOT_PAGES)
    missing = sorted(with_params - declared)
    assert missing == [], f"map these URLs in PARAM_PAGES (or declare them): {missing}"
    stale = sorted(declared - set(urls))
    assert stale == [], f"these declared URLs no longer exist: {stale}"
    client = login(world.admin_a)
    not_post_only = []
    for name in sorted(POST_ONLY):
        url = reverse(name, kwargs=_dummy_kwargs(urls[name]))
        if client.get(url).status_code != 405:
            not_post_only.append(name)
    assert not_post_only == [], f"these answer GET: map them in PARAM_PAGES: {not_post_only}"
    mapped_post_only = [
        name
        for name in sorted(PARAM_PAGES)
        if client.get(reverse(name, kwargs=_dummy_kwargs(urls[name]))).status_code == 405
    ]
    assert mapped_post_only == [], f"these answer 405 to GET: move to POST_ONLY: {mapped_post_only}"
    post_only_pages = [
        name for name in _plain_pages() if client.get(reverse(name)).status_code == 405
    ]
    assert post_only_pages == [], f"these answer 405 to GET: add to POST_ONLY: {post_only_pages}"


BAD_PAGE = """<!doctype html><html><head><meta name="viewport" content="width=device-width,
initial-scale=1"><style>
body { margin: 0; font-size: 14px; }
.wide { width: 500px; }
.scroller { overflow-x: auto; }
.scroller table { width: 600px; }
.squeezed td { width: 10px; max-width: 10px; padding: 0; }
.tabs-scroll { overflow-x: auto; white-space: nowrap; }
</style></head><body>
<div class="wide">too wide</div>
<div class="scroller"><table><tr><td>宽表格</td></tr></table></div>
<table class="squeezed"><tr><td>无购买意向</td><td>2026-11-24</td></tr></table>
<details><summary>更多</summary><div class="wide">a closed panel is not seen</div></details>
<div class="tabs-scroll"><a>概况</a> <a>跟进记录</a> <a>联系人</a>
<a>附件附件附件附件附件附件附件附件附件附件附件附件附件附件附件附件附件附件附件附件</a></div>
<button class="sr-only">读屏文字</button>
</body></html>"""


def test_the_check_sees_overflow_narrow_cells_and_broken_words(new_context):
    """The check itself (no server): a page with each fault is reported for each, and what is
    allowed (a closed <details>, the tab bar's scroller, a screen-reader text) is not."""
    if not has_cjk_font():
        pytest.skip(CJK_FONT_MISSING)
    context = new_context(**PHONE)
    page = context.pages[0] if context.pages else context.new_page()
    page.set_content(BAD_PAGE)
    result = page.evaluate(CHECK_SCRIPT, SIDEWAYS_SCROLLERS)
    visit = Visit("about:blank", 200, 200, result)
    assert result["scrollWidth"] > result["clientWidth"] == 390
    assert [item["text"] for item in result["wide"]] == ["too wide"]
    assert [item["text"] for item in result["sideways"]] == ["宽表格"]
    assert {item["text"] for item in result["narrow"]} >= {"无购买意向", "2026-11-24"}
    assert result["checked"] >= 4
    problems = "\n".join(visit.problems())
    assert "the page is " in problems and "narrower than two characters" in problems
    # A cell wide enough for two characters but too narrow for its short word breaks it.
    page.set_content(
        BAD_PAGE.replace("width: 10px; max-width: 10px", "width: 30px; max-width: 30px")
    )
    result = page.evaluate(CHECK_SCRIPT, SIDEWAYS_SCROLLERS)
    assert {item["text"] for item in result["broken"]} >= {"无购买意向", "2026-11-24"}
