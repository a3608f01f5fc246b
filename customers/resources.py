"""django-import-export resources of the customers module."""

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from customers.models import FollowUp


class FollowUpResource(resources.ModelResource):
    customer = fields.Field(attribute="customer__name", column_name=_("Customer"))
    contact = fields.Field(attribute="contact__name", column_name=_("Contact"))
    kind = fields.Field(attribute="kind__label", column_name=_("Type"))
    content = fields.Field(attribute="content", column_name=_("Content"))
    followed_at = fields.Field(attribute="followed_at", column_name=_("Time"))
    next_followup_at = fields.Field(attribute="next_followup_at", column_name=_("Next follow-up"))
    created_by = fields.Field(attribute="created_by__name", column_name=_("By"))

    class Meta:
        model = FollowUp
        fields = (
            "customer",
            "contact",
            "kind",
            "content",
            "followed_at",
            "next_followup_at",
            "created_by",
        )
        export_order = fields

    def dehydrate_followed_at(self, obj):
        from django.utils import timezone

        return timezone.localtime(obj.followed_at).strftime("%Y-%m-%d %H:%M")

    def dehydrate_next_followup_at(self, obj):
        from django.utils import timezone

        if obj.next_followup_at is None:
            return ""
        return timezone.localtime(obj.next_followup_at).strftime("%Y-%m-%d %H:%M")
