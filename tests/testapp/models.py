from django.db import models

from crm.models import OwnedModel, User
from crm.tenancy import TenantModel


class Memo(OwnedModel):
    title = models.CharField(max_length=100)
    participants = models.ManyToManyField(User, through="MemoParticipant", related_name="+")

    def __str__(self):
        return self.title


class MemoParticipant(TenantModel):
    memo = models.ForeignKey(Memo, on_delete=models.CASCADE)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "memo", "user"], name="memo_participant_unique"
            )
        ]
