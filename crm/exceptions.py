"""Domain errors raised by services; one place (``crm.views.base.domain_error_response``)
turns each kind into its answer for every view, htmx included.

The kinds, and why they are two separate branches:

- ``NotFoundError`` (and ``NotVisibleError``): the record the request is about does not
  exist, lives in another tenant or may not be seen by the actor. Always a 404, with the
  same page as a missing record. It is deliberately NOT a ``ServiceError``: a view's
  ``except ServiceError`` (which shows a refusal as a message or on a form) must never
  turn a missing record into a message.
- ``ServiceError``: a rule refused the change (a 422 on the form it came from, else a
  message). A batch whose selection holds rows the actor may not see is such a refusal
  (code ``"not_visible"``, a message that names none of them), so that it fails as a
  whole with the same answer as the other batch refusals.
- ``PermissionRefusedError``: a ``ServiceError`` refused for lack of a permission; a 403
  when no view shows it as a message itself.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import IntegrityError, transaction


class DomainError(Exception):
    """What every domain error carries: ``message``, a (lazy) translated sentence for the
    user, and ``code``, a stable word for tests and callers."""

    default_code = "error"

    def __init__(self, message, *, code: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.code = code or self.default_code


class ServiceError(DomainError):
    """A refused state change: a rule of the domain says no (a 422 or a message)."""

    default_code = "refused"


class PermissionRefusedError(ServiceError):
    """The actor lacks the function permission for this action (a 403 in views)."""

    default_code = "permission"

    def __init__(self, message=None, *, code: str | None = None):
        from django.utils.translation import gettext_lazy as _

        super().__init__(message or _("You do not have permission to do this."), code=code)


class NotFoundError(DomainError):
    """The record does not exist for the actor: missing or in another tenant (a 404 in
    views). Not a ``ServiceError``, so ``except ServiceError`` never swallows it."""

    default_code = "not_found"

    def __init__(self, message=None, *, code: str | None = None):
        from django.utils.translation import gettext_lazy as _

        super().__init__(message or _("The record does not exist."), code=code)


class NotVisibleError(NotFoundError):
    """A record the actor may not see was named (a 404 in views, never a 403): the same
    answer as a missing one, so a refusal never tells that it exists."""

    default_code = "not_visible"


@contextmanager
def refused_if_taken(message, *, code: str = "duplicate"):
    """Save a row under a unique constraint (a name in its list) as a refusal, not a 500.

    Services check a name before saving it; a request that saves the same name at the same
    moment passes that check too, and its INSERT meets the constraint. The save runs in a
    savepoint, so the refusal leaves the caller's transaction usable::

        with refused_if_taken(_("A campaign named %(name)s exists already.") % {...}):
            campaign.save()
    """
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise ServiceError(message, code=code) from exc
