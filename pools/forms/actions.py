"""Forms of the pool's actions (claim, assign, move, return). Relation fields are
django-scopes' safe fields with querysets of the request's tenant."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_scopes.forms import SafeModelChoiceField

from crm.forms import PersonMultipleChoiceField as UserMultipleChoiceField
from crm.forms import posted_id_choices
from crm.models import Option, OptionKind, User
from crm.services import assignable_users
from pools.models import PoolGroup
from pools.subjects import subject_for


class _IdsForm(forms.Form):
    """The ticked ids; ``kind`` says which pool the page is about (groups of that kind only
    in its choices, its subject's words in its messages)."""

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())

    def __init__(self, *args, tenant_id: int, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.subject = subject_for(kind)
        self.fields["ids"].choices = posted_id_choices(self.data)
        self.fields["ids"].error_messages["required"] = self.subject.messages["empty"]
        self.tenant_id = tenant_id


class ClaimForm(_IdsForm):
    pass


class AssignForm(_IdsForm):
    DISTRIBUTIONS = [("even", _("Evenly, in turn")), ("random", _("At random"))]

    users = UserMultipleChoiceField(label=_("Assign to"), queryset=User.objects.none())
    distribution = forms.ChoiceField(label=_("Distribution"), choices=DISTRIBUTIONS, initial="even")

    def __init__(self, *args, tenant_id: int, kind: str, **kwargs):
        super().__init__(*args, tenant_id=tenant_id, kind=kind, **kwargs)
        self.fields["users"].queryset = assignable_users(tenant_id)
        self.fields["users"].error_messages["required"] = _("Choose at least one user.")


class MoveForm(_IdsForm):
    group = SafeModelChoiceField(label=_("Pool group"), queryset=PoolGroup.objects.none())

    def __init__(self, *args, tenant_id: int, kind: str, **kwargs):
        super().__init__(*args, tenant_id=tenant_id, kind=kind, **kwargs)
        self.fields["group"].queryset = PoolGroup.objects.filter(
            tenant_id=tenant_id, kind=self.kind, is_enabled=True
        )


class ReturnForm(_IdsForm):
    reason = SafeModelChoiceField(
        label=_("Reason"), queryset=Option.objects.none(), empty_label=_("Choose a reason")
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
    group = SafeModelChoiceField(
        label=_("Into pool group"),
        queryset=PoolGroup.objects.none(),
        required=False,
        empty_label=_("Its own pool group"),
    )

    def __init__(self, *args, tenant_id: int, kind: str, **kwargs):
        super().__init__(*args, tenant_id=tenant_id, kind=kind, **kwargs)
        self.fields["reason"].queryset = Option.objects.filter(
            tenant_id=tenant_id, kind=OptionKind.POOL_RETURN_REASON, is_active=True
        )
        self.fields["reason"].error_messages["required"] = self.subject.messages["reason"]
        self.fields["group"].queryset = PoolGroup.objects.filter(
            tenant_id=tenant_id, kind=self.kind, is_enabled=True
        )
