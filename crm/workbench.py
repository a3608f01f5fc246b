"""Panels of the workbench (工作台). Modules register ``(template, context_func)``;
``context_func(request)`` returns the panel's context, or None to hide the panel.

A panel sits in one ``area`` of the page: ``kpi`` (the row of numbers a rep acts on),
``list`` (the work lists: follow-ups due, about to fall into a pool…) or ``team`` (a
manager's per-rep table). On a desktop the areas come in that order; on a phone the lists
come first (static/css/tidepool.css, "Workbench")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

AREAS = ("kpi", "list", "team")


@dataclass(frozen=True)
class Panel:
    template: str
    context: Callable
    order: int = 100
    area: str = "list"


_PANELS: list[Panel] = []


def register(template: str, context: Callable, order: int = 100, area: str = "list") -> Panel:
    if area not in AREAS:
        raise ValueError(f"unknown workbench area {area!r}: one of {AREAS}")
    panel = Panel(template, context, order, area)
    _PANELS.append(panel)
    _PANELS.sort(key=lambda p: (AREAS.index(p.area), p.order))
    return panel


def panels_for(request) -> list[dict]:
    result = []
    for panel in _PANELS:
        context = panel.context(request)
        if context is not None:
            result.append({"template": panel.template, "context": context, "area": panel.area})
    return result


def _recent(request):
    from crm.recent import workbench_panel

    return workbench_panel(request)


# 最近浏览 (crm/recent.py): the core's own panel, after the work lists.
register("crm/recent_panel.html", _recent, order=50)
