"""Panels of the workbench (工作台). Modules register ``(template, context_func)``;
``context_func(request)`` returns the panel's context, or None to hide the panel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    template: str
    context: Callable
    order: int = 100


_PANELS: list[Panel] = []


def register(template: str, context: Callable, order: int = 100) -> Panel:
    panel = Panel(template, context, order)
    _PANELS.append(panel)
    _PANELS.sort(key=lambda p: p.order)
    return panel


def panels_for(request) -> list[dict]:
    result = []
    for panel in _PANELS:
        context = panel.context(request)
        if context is not None:
            result.append({"template": panel.template, "context": context})
    return result
