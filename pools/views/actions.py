"""The pool actions' responses, the same for every kind of pool list (customers' 公海 in
``customers.views.pool``, leads' 线索池 in ``leads.views.pool``): validate the posted form,
call one service, turn the result or the refusal into messages and a redirect.

Success messages name what changed ("已领取：武汉宏图…、南宁…"), each name a link to the record
when the actor still sees it (:func:`record_names`); they are built with escaped names
(:func:`safe_format`), so the messages component renders them as HTML safely."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from crm.exceptions import ServiceError
from crm.visibility import visible_to
from pools import services

# How many records a success message names before "等 N 个".
NAMES_SHOWN = 5


def safe_format(template: str, **values) -> SafeString:
    """``template`` (a translation with ``%(name)s`` placeholders) filled with ``values``:
    like ``format_html`` for gettext's placeholders. SECURITY: the template and every value
    are escaped, except values that are already safe (built here with ``format_html``)."""
    escaped = {
        key: value if isinstance(value, int | float) else conditional_escape(value)
        for key, value in values.items()
    }
    return mark_safe(conditional_escape(template) % escaped)  # noqa: S308 (all escaped above)


def record_names(actor, rows, *, detail: str | None = None, label=str) -> SafeString:
    """The names of ``rows`` joined with 、 (at most :data:`NAMES_SHOWN`, then "等 N 个"),
    each a link to its page ``detail`` (a URL name taking ``pk``) when ``actor`` still sees
    the record (one query); escaped."""
    rows = list(rows)
    shown = rows[:NAMES_SHOWN]
    seen: set = set()
    if detail and shown:
        model = type(shown[0])
        ids = [row.pk for row in shown]
        seen = set(visible_to(actor, model.objects.filter(pk__in=ids)).values_list("pk", flat=True))
    names = format_html_join(
        "、",
        "{}",
        (
            (
                format_html('<a href="{}">{}</a>', reverse(detail, args=[row.pk]), label(row))
                if row.pk in seen
                else label(row),
            )
            for row in shown
        ),
    )
    if len(rows) > len(shown):
        return safe_format(_("%(names)s and more, %(count)d in all"), names=names, count=len(rows))
    return names


def claim_quota(actor, rows) -> str:
    """The quota "今日已领 2/20" of each group of ``rows`` with a daily claim limit."""
    groups = {}
    for row in rows:
        group = getattr(row, "pool_group", None)
        if group is not None and group.daily_claim_limit:
            groups[group.pk] = group
    parts = []
    for group in groups.values():
        values = {"done": services.claimed_today(actor, group), "limit": group.daily_claim_limit}
        if len(groups) > 1:
            values["group"] = group.name
            parts.append(_("%(group)s: claimed today %(done)d/%(limit)d") % values)
        else:
            parts.append(_("Claimed today %(done)d/%(limit)d") % values)
    return "; ".join(parts)


def kind_form(form_class, kind: str):
    """An action form class bound to a kind of pool (its groups only in the choices, its
    subject's words in the messages), as ``_run_action`` builds it from the POST."""
    return lambda data, tenant_id: form_class(data, tenant_id=tenant_id, kind=kind)


def _form_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _done(request, result: services.PoolResult, message) -> None:
    if result.done:
        messages.success(request, message() if callable(message) else message)
    if result.lost:
        messages.warning(request, result.lost_message)
    if not result.done and not result.lost:
        messages.info(request, _("Nothing was changed."))


def _run_action(request, form_class, action):
    """Validate the POSTed form and call ``action(cleaned_data)`` (one service). A bad form
    or a refusal becomes an error message; returns the service's result or None."""
    form = form_class(request.POST, tenant_id=request.user.tenant_id)
    if not form.is_valid():
        request.refused_form = form  # a reason modal may show it inline instead (modal_refused)
        messages.error(request, _form_errors(form))
        return None
    try:
        return action(form.cleaned_data)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return None


def modal_refused(request, modal: str) -> bool:
    """Whether this htmx POST came from the reason modal ``modal``
    (templates/components/reason_modal.html) and ``_run_action`` refused its form. If so, the
    refusal's error message is taken back: the caller answers with the modal re-rendered,
    the errors under its fields, status 422. Any other answer keeps the message, so a modal
    post to a view that does not answer this way is never refused in silence."""
    form = getattr(request, "refused_form", None)
    if form is None or not request.htmx or request.POST.get("modal") != modal:
        return False
    text = _form_errors(form)
    # Iterating marks every message as shown; all but the refusal (the last one added with
    # its text) are queued again.
    kept = list(messages.get_messages(request))
    for i in range(len(kept) - 1, -1, -1):
        if kept[i].level == messages.ERROR and kept[i].message == text:
            del kept[i]
            break
    for m in kept:
        messages.add_message(request, m.level, m.message, extra_tags=m.extra_tags)
    return True


def posted_from(request, url: str) -> bool:
    """Whether an htmx request was posted from the page at ``url`` (the path of its
    HX-Current-URL): the record page's own actions answer with its parts out of band."""
    if not request.htmx:
        return False
    return urlsplit(request.htmx.current_url or "").path == url


def _page_or_redirect(request, page_response, to: str, **kwargs):
    """An htmx action posted from a record's page answers with ``page_response(request)``
    (its header, tabs and messages out of band; None when not posted from there); else a
    redirect."""
    response = page_response(request) if page_response is not None else None
    return response or redirect(to, **kwargs)


def claim_response(request, form_class, claim, *, back: str, detail: str, page_response=None):
    """A claim from a pool list or a record's page (customers or leads): ``claim(cleaned_data)``
    is the service. The message names (and links) what was claimed, with the day's quota
    where the group has a daily limit; one record claimed opens its page ``detail``, else
    back. ``page_response`` answers an htmx claim from the record's own page."""
    result = _run_action(request, form_class, claim)
    if result is None:
        return _page_or_redirect(request, page_response, back)

    def message():
        names = record_names(request.user, result.done, detail=detail, label=result.subject.label)
        text = safe_format(_("Claimed: %(names)s"), names=names)
        quota = claim_quota(request.user, result.done)
        if quota:
            text = safe_format(_("%(message)s. %(quota)s"), message=text, quota=quota)
        return text

    _done(request, result, message)
    if page_response is not None and (response := page_response(request)) is not None:
        return response
    if len(result.done) == 1 and not result.lost:
        return redirect(detail, pk=result.done[0].pk)
    return redirect(back)


def assign_response(request, form_class, assign, *, back: str, message, detail: str | None = None):
    """An assignment from a pool list or a record's page: ``assign(cleaned_data)`` is the
    service; ``message(count)`` the success's translation with ``%(count)d``, ``%(users)s``
    (joined with 、) and ``%(names)s``: what was assigned, linking to ``detail`` where the
    actor still sees it."""
    users = []

    def run(data):
        users.extend(data["users"])
        return assign(data)

    result = _run_action(request, form_class, run)
    if result is not None:
        done = result.done

        def text():
            names = record_names(request.user, done, detail=detail, label=result.subject.label)
            return safe_format(
                message(len(done)),
                count=len(done),
                users="、".join(str(u) for u in users),
                names=names,
            )

        _done(request, result, text)
    return redirect(back)


def move_response(request, form_class, move, *, back: str, message):
    """A move to another pool group: ``move(cleaned_data)`` is the service, returning the
    moved records; ``message(count, group)`` the success."""
    result = _run_action(request, form_class, lambda data: (data["group"], move(data)))
    if result is not None:
        group, moved = result
        messages.success(request, message(len(moved), group))
    return redirect(back)
