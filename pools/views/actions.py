"""The pool actions' responses, the same for every kind of pool list (customers' 公海 in
``customers.views.pool``, leads' 线索池 in ``leads.views.pool``): validate the posted form,
call one service, turn the result or the refusal into messages and a redirect."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from crm.exceptions import ServiceError
from pools import services


def kind_form(form_class, kind: str):
    """An action form class bound to a kind of pool (its groups only in the choices, its
    subject's words in the messages), as ``_run_action`` builds it from the POST."""
    return lambda data, tenant_id: form_class(data, tenant_id=tenant_id, kind=kind)


def _form_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _done(request, result: services.PoolResult, message: str) -> None:
    if result.done:
        messages.success(request, message)
    if result.lost:
        messages.warning(request, result.lost_message)
    if not result.done and not result.lost:
        messages.info(request, _("Nothing was changed."))


def _run_action(request, form_class, action):
    """Validate the POSTed form and call ``action(cleaned_data)`` (one service). A bad form
    or a refusal becomes an error message; returns the service's result or None."""
    form = form_class(request.POST, tenant_id=request.user.tenant_id)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return None
    try:
        return action(form.cleaned_data)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return None


def claim_response(request, form_class, claim, *, back: str, message, detail: str):
    """A claim from a pool list (customers or leads): ``claim(cleaned_data)`` is the service,
    ``message(count)`` the success; one record claimed opens its page ``detail``, else back."""
    result = _run_action(request, form_class, claim)
    if result is None:
        return redirect(back)
    count = len(result.done)
    _done(request, result, message(count))
    if count == 1 and not result.lost:
        return redirect(detail, pk=result.done[0].pk)
    return redirect(back)


def assign_response(request, form_class, assign, *, back: str, message):
    """An assignment from a pool list: ``assign(cleaned_data)`` is the service,
    ``message(count, users)`` the success (``users`` joined with 、)."""
    users = []

    def run(data):
        users.extend(data["users"])
        return assign(data)

    result = _run_action(request, form_class, run)
    if result is not None:
        _done(request, result, message(len(result.done), "、".join(str(u) for u in users)))
    return redirect(back)


def move_response(request, form_class, move, *, back: str, message):
    """A move to another pool group: ``move(cleaned_data)`` is the service, returning the
    moved records; ``message(count, group)`` the success."""
    result = _run_action(request, form_class, lambda data: (data["group"], move(data)))
    if result is not None:
        group, moved = result
        messages.success(request, message(len(moved), group))
    return redirect(back)
