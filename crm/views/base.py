"""What every tenant view shares: login, tenant membership, permission codes, and turning
service errors into messages."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm import permissions
from crm.exceptions import NotVisibleError, PermissionRefusedError, ServiceError


def tenant_view(permission: str | None = None, *, any_of: tuple[str, ...] = ()):
    """Decorate a view of the tenant app: logged-in tenant user, optionally a permission.

    Platform operators (no tenant) are sent to the Django admin. A missing permission is a
    403; a service refusal becomes a message (``ServiceError``), an invisible record a 404.
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
            except NotVisibleError as exc:
                raise Http404 from exc
            except PermissionRefusedError as exc:
                raise PermissionDenied(str(exc.message)) from exc

        return wrapper

    return decorator


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
