"""Forms of the opportunity pages: create / edit, the lines editor, stage moves, 输单 with its
reason, contacts with roles, the team, the batch transfer and the stage settings. Choice
querysets are set in ``__init__`` from the actor's tenant; relation fields are django-scopes'
safe fields. The services check everything again."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _
from django_scopes.forms import SafeModelChoiceField

from crm.forms import DATE_WIDGET, DATETIME_WIDGET, posted_id_choices
from crm.forms import PersonChoiceField as UserChoiceField
from crm.forms import PersonMultipleChoiceField as UserMultipleChoiceField
from crm.models import Option, OptionKind, User
from crm.selectors import options_for
from crm.services import assignable_users
from customers.models import Contact, Customer
from opportunities.models import (
    Opportunity,
    OpportunityStage,
    Product,
    StageKind,
)

# The customer select lists at most this many customers (the actor's own first, the most
# recently changed); a customer page's 新建商机 always has its customer among them.
CUSTOMER_CHOICES_MAX = 300


def editable_customers(actor: User):
    """The customers ``actor`` may open an opportunity on: alive, outside the pool, owned
    inside the actor's data scope, or shared with them with the edit grant
    (opportunities.services.opportunity_create checks customers.policies.may_edit again)."""
    from django.db.models import Q

    from crm.visibility import owner_scope, visible_to
    from customers.models import CustomerUserObjectPermission

    granted = CustomerUserObjectPermission.objects.filter(
        tenant_id=actor.tenant_id, user_id=actor.pk
    ).values("content_object_id")
    qs = visible_to(actor, Customer.objects.alive().outside_pool(), include_public=False)
    return qs.filter(Q(owner_scope(actor).q("owner_id")) | Q(pk__in=granted))


class CustomerSelect(forms.Select):
    """The customer select, searchable by name with static/js/picker.js (its local-options
    picker, as for departments: the options are the form's own, no autocomplete view)."""

    def __init__(self, attrs=None):
        base = {
            "data-department-picker": "",
            "data-placeholder": _("Type a customer name"),
            "data-no-results": _("No customer matches"),
        }
        super().__init__({**base, **(attrs or {})})


class OpportunityForm(forms.ModelForm):
    """新建商机 / 编辑商机. The customer only on create (an opportunity stays on its customer);
    the stage only on create (later it moves with the stage buttons); the probability only
    when the tenant lets people enter it."""

    customer = SafeModelChoiceField(
        label=_("Customer"), queryset=Customer.objects.none(), widget=CustomerSelect
    )
    stage = SafeModelChoiceField(label=_("Sales stage"), queryset=OpportunityStage.objects.none())

    class Meta:
        model = Opportunity
        fields = [
            "name",
            "customer",
            "stage",
            "amount",
            "budget",
            "expected_close_date",
            "probability",
            "commit",
            "next_followup_at",
            "remark",
        ]
        widgets = {
            "expected_close_date": DATE_WIDGET,
            "next_followup_at": DATETIME_WIDGET,
            "remark": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "amount": _("Empty: the total of the products."),
        }

    def __init__(
        self,
        *args,
        actor: User,
        creating: bool,
        probability_override: bool = False,
        customer: Customer | None = None,
        read_only: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.actor, self.creating = actor, creating
        tenant_id = actor.tenant_id
        self.fields["amount"].required = False
        self.fields["probability"].required = False
        instance = kwargs.get("instance")
        if creating:
            # Not the model's default 0: an empty box means "the total of the products".
            self.initial["amount"] = None
        elif instance is not None and not instance.amount_manual:
            # The amount follows the lines: the box stays empty (typing one fixes it).
            self.initial["amount"] = None
            self.fields["amount"].help_text = _(
                "Empty: the total of the products (now %(amount)s)."
            ) % {"amount": f"{instance.amount:,.2f}"}
        if creating:
            editable = editable_customers(actor)
            self.fields["customer"].queryset = editable
            shown = list(
                editable.order_by("-updated_at", "-id").only("pk", "name")[:CUSTOMER_CHOICES_MAX]
            )
            if customer is not None and all(c.pk != customer.pk for c in shown):
                shown.insert(0, customer)
            self.fields["customer"].choices = [("", _("Choose a customer"))] + [
                (c.pk, c.name) for c in shown
            ]
            if customer is not None:
                self.initial["customer"] = customer.pk
            stages = OpportunityStage.objects.filter(
                tenant_id=tenant_id, kind=StageKind.OPEN, is_active=True
            ).order_by("sort", "id")
            self.fields["stage"].queryset = stages
            self.fields["stage"].empty_label = None
        else:
            del self.fields["customer"]
            del self.fields["stage"]
        if not probability_override:
            del self.fields["probability"]
        if read_only:
            # Won / lost: only the remark may change (wave2.md §3.4).
            for name in list(self.fields):
                if name != "remark":
                    del self.fields[name]

    def opportunity_data(self) -> dict:
        """The fields for opportunity_create / opportunity_update (no customer: it is its
        own argument; no empty probability: the stage's then). An empty amount follows the
        lines' total (``amount`` None), a typed one is entered by hand."""
        data = {k: v for k, v in self.cleaned_data.items() if k != "customer"}
        if data.get("probability") is None:
            data.pop("probability", None)
        if "amount" in data and data["amount"] is None and not self.creating:
            data["amount_manual"] = False
        return data


class LineForm(forms.Form):
    """One product line of the lines editor."""

    # The product picker (templates/opportunities/product_picker_dialog.html) fills the
    # row's elements named by data-product-field; the select stays the no-JavaScript way.
    product = SafeModelChoiceField(
        label=_("Product"),
        queryset=Product.objects.none(),
        required=False,
        widget=forms.Select(attrs={"data-product-field": "id"}),
    )
    qty = forms.DecimalField(
        label=_("Quantity"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
    )
    unit_price = forms.DecimalField(
        label=_("Sale price"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
        widget=forms.NumberInput(attrs={"data-product-field": "unit_price", "step": "0.01"}),
    )
    remark = forms.CharField(label=_("Remark"), max_length=200, required=False)

    def __init__(self, *args, products=None, **kwargs):
        super().__init__(*args, **kwargs)
        if products is not None:
            self.fields["product"].queryset = products

    def clean(self):
        data = super().clean()
        if data.get("product") is None:
            return data  # an empty row: ignored
        if data.get("qty") is None:
            self.add_error("qty", _("Enter the quantity."))
        if data.get("unit_price") is None:
            data["unit_price"] = data["product"].price
        return data


class BaseLineFormSet(forms.BaseFormSet):
    def __init__(self, *args, products, **kwargs):
        self.products = products
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "products": self.products}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            products=self.products,
            renderer=self.renderer,
        )
        self.add_fields(form, None)
        return form

    def lines(self) -> list[dict]:
        """The filled rows, in order, as opportunity_lines_set takes them."""
        out = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("product") is None or (self.can_delete and data.get("DELETE")):
                continue
            out.append(
                {
                    "product": data["product"],
                    "qty": data["qty"],
                    "unit_price": data["unit_price"],
                    "remark": data.get("remark", ""),
                }
            )
        return out


LineFormSet = forms.formset_factory(
    LineForm, formset=BaseLineFormSet, extra=3, can_delete=True, max_num=200
)


def sellable_products(tenant_id: int, include=()):
    """The products a line may take: on sale, plus those already on the lines."""
    from django.db.models import Q

    return Product.objects.filter(
        Q(tenant_id=tenant_id) & (Q(status=Product.Status.ON_SALE) | Q(pk__in=list(include)))
    ).order_by("name", "id")


def line_formset(data=None, *, tenant_id: int, lines=()):
    """The lines editor: the current lines, then empty rows."""
    initial = [
        {
            "product": line.product_id,
            "qty": line.qty,
            "unit_price": line.unit_price,
            "remark": line.remark,
        }
        for line in lines
    ]
    products = sellable_products(tenant_id, include=[line.product_id for line in lines])
    return LineFormSet(data, initial=initial or None, products=products, prefix="lines")


class StageMoveForm(forms.Form):
    """A stage button, the kanban's drag or its select: the target stage and the stage the
    user saw (a drag from a stale board is refused: services' expected_stage_id)."""

    stage = SafeModelChoiceField(label=_("Sales stage"), queryset=OpportunityStage.objects.none())
    expected_stage_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = OpportunityStage.objects.filter(
            tenant_id=tenant_id, is_active=True
        ).order_by("sort", "id")


class LoseForm(forms.Form):
    """输单: the reason (the tenant's list) and a note."""

    reason = SafeModelChoiceField(label=_("Lost reason"), queryset=Option.objects.none())
    note = forms.CharField(
        label=_("Note"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    expected_stage_id = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = options_for(
            tenant_id=tenant_id, kind=OptionKind.LOST_REASON
        )
        self.fields["reason"].empty_label = _("Choose a reason")
        self.fields["reason"].error_messages["required"] = _("Choose why the deal was lost.")


class NoteForm(forms.Form):
    """赢单 / 重新打开: a note, and for a reopen the open stage to go back to."""

    note = forms.CharField(label=_("Note"), max_length=1000, required=False)
    stage = SafeModelChoiceField(
        label=_("Back to stage"), queryset=OpportunityStage.objects.none(), required=False
    )

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = OpportunityStage.objects.filter(
            tenant_id=tenant_id, kind=StageKind.OPEN, is_active=True
        ).order_by("sort", "id")
        self.fields["stage"].empty_label = _("The last open stage")


class ContactRoleForm(forms.Form):
    """A contact of the customer on the opportunity, with its role."""

    contact = SafeModelChoiceField(label=_("Contact"), queryset=Contact.objects.none())
    role = SafeModelChoiceField(label=_("Role"), queryset=Option.objects.none(), required=False)
    is_primary = forms.BooleanField(label=_("Primary contact"), required=False)
    remark = forms.CharField(label=_("Remark"), max_length=200, required=False)

    def __init__(self, *args, opportunity: Opportunity, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = Contact.objects.filter(
            tenant_id=opportunity.tenant_id, customer_id=opportunity.customer_id
        ).order_by("name", "id")
        self.fields["role"].queryset = options_for(
            tenant_id=opportunity.tenant_id, kind=OptionKind.CONTACT_ROLE
        )


class TeamForm(forms.Form):
    users = UserMultipleChoiceField(label=_("People"), queryset=User.objects.none())
    can_edit = forms.BooleanField(label=_("May edit the opportunity"), required=False)

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = assignable_users(tenant_id)


class TransferForm(forms.Form):
    """批量转移 from the list's batch bar (or the page's 转移, one id)."""

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=())
    to_user = UserChoiceField(label=_("New owner"), queryset=User.objects.none())

    def __init__(self, *args, tenant_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = assignable_users(tenant_id)
        self.fields["ids"].choices = posted_id_choices(self.data)
        self.fields["ids"].error_messages["required"] = _("Select at least one opportunity.")
        self.fields["to_user"].error_messages["required"] = _("Choose the new owner.")


class StageForm(forms.ModelForm):
    """A stage in the settings. The won and lost stages keep their kind."""

    class Meta:
        model = OpportunityStage
        fields = ["name", "probability", "allow_rollback_open", "allow_reopen", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stage = self.instance
        if stage.pk and stage.kind != StageKind.OPEN:
            # 赢单 is 100 %, 输单 0 %; an end stage is always active and never moves back.
            for name in ("probability", "allow_rollback_open", "is_active"):
                del self.fields[name]
        elif not stage.pk or stage.kind == StageKind.OPEN:
            del self.fields["allow_reopen"]


class StageSettingsForm(forms.Form):
    stage_mode = forms.ChoiceField(
        label=_("Stage mode"),
        choices=[
            ("free", _("Free: jump to any stage")),
            ("strict", _("Strict: forward one stage at a time, back to any earlier one")),
        ],
        widget=forms.RadioSelect,
    )
    probability_override = forms.BooleanField(
        label=_("The win probability may be entered by hand"), required=False
    )
