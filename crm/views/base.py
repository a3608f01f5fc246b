"""What every tenant view shares: login, tenant membership, permission codes, and the one
mapping of domain errors to answers (``domain_error_response``)."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from crm import permissions
from crm.exceptions import DomainError, NotFoundError, PermissionRefusedError, ServiceError


def tenant_view(permission: str | None = None, *, any_of: tuple[str, ...] = ()):
    """Decorate a view of the tenant app: logged-in tenant user, optionally a permission.

    Platform operators (no tenant) are sent to the Django admin. A missing permission is a
    403. A domain error the view lets through is answered by ``domain_error_response``:
    not found / not visible a 404, a refused permission a 403, a refused rule a message.
    """
    codes = tuple(permissions.check(c) for c in ((permission,) if permission else any_of))

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if user.tenant_id is None:
                return redirect("admin:index")
            if codes and not any(user.can(c) for c in codes):
                raise PermissionDenied
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return domain_error_response(request, exc)

        return wrapper

    return decorator


def domain_error_response(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """The answer to a domain error no view handled itself, the same for every view:

    - ``NotFoundError`` / ``NotVisibleError``: raises ``Http404``, the page of a missing
      record (SECURITY: never a 403 and never the message, which could tell it exists);
    - ``PermissionRefusedError``: raises ``PermissionDenied``, the 403 page with its message;
    - any other ``ServiceError`` (a rule refused the change): ``refusal_response``.

    A view that shows a refusal on its form (``form_page``, ``render_form_error``: 422 with
    the form) catches ``ServiceError`` itself; not-found errors pass such ``except``
    clauses because they are not ``ServiceError``s.
    """
    if isinstance(exc, NotFoundError):
        raise Http404 from exc
    if isinstance(exc, PermissionRefusedError):
        raise PermissionDenied(str(exc.message)) from exc
    if isinstance(exc, ServiceError):
        return refusal_response(request, exc)
    raise exc


def refusal_response(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    """A refused rule, shown as an error message; nothing was changed (services are atomic).

    For htmx: status 422, ``HX-Reswap: none`` (the target keeps its content) and a body
    holding the message as the out-of-band ``#messages`` fragment, which is how the
    project's htmx views send messages. Otherwise: the message is queued and the user is
    redirected back (post/redirect/get) to the page they came from: the POSTed ``next``,
    else the referring page of this site, else the workbench. Always a redirect, for GET
    too, so a refusal looks the same wherever it happens.
    """
    messages.error(request, str(exc.message))
    if request.htmx:
        response = render(request, "error_base.html#refusal", status=422)
        response["HX-Reswap"] = "none"
        return response
    return redirect(_back_url(request))


def _back_url(request: HttpRequest) -> str:
    # SECURITY: only a URL of this site ("//evil.example" and "/\evil.example" are not).
    here = request.build_absolute_uri()
    for candidate in (request.POST.get("next"), request.headers.get("referer")):
        if (
            candidate
            and url_has_allowed_host_and_scheme(
                candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            )
            # A refused GET sent back to itself would refuse again, in a loop.
            and request.build_absolute_uri(candidate) != here
        ):
            return candidate
    return "/"


def tenant_objects(request: HttpRequest, model):
    """The model's rows of the request's tenant (explicit filter on top of the scope)."""
    return model.objects.filter(tenant_id=request.user.tenant_id)


def paginate(request: HttpRequest, queryset, per_page: int = 25):
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get("page"))


def render_form_error(request, template: str, context: dict, form, exc: ServiceError):
    """Show a service refusal on the form it came from, with status 422."""
    form.add_error(None, str(exc.message))
    return render(request, template, context, status=422)


def form_page(
    request,
    template: str,
    context: dict,
    *,
    save,
    saved_message,
    success_url: str,
    is_valid=None,
):
    """A create/edit page of ``context["form"]``: GET shows it; a valid POST calls ``save()``
    (one service) and redirects to ``success_url`` (a URL or a URL name) with
    ``saved_message(saved)``; an invalid form (``is_valid()``, the form's own by default) or
    a refusal comes back with status 422."""
    form = context["form"]
    if request.method != "POST":
        return render(request, template, context)
    if not (is_valid or form.is_valid)():
        return render(request, template, context, status=422)
    try:
        saved = save()
    except ServiceError as exc:
        return render_form_error(request, template, context, form, exc)
    messages.success(request, saved_message(saved))
    return redirect(success_url)


def service_message(request, exc: ServiceError) -> None:
    messages.error(request, str(exc.message))


def htmx_or_redirect(request, template: str, context: dict, url: str):
    """After a successful mutation: the fragment for htmx, a redirect otherwise (PRG)."""
    if request.htmx:
        return render(request, template, context)
    return redirect(url)
