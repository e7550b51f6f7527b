"""Revokes a person's API tokens once their deactivation or departure has committed."""

from django.dispatch import receiver

from accounts.signals import staff_departed
from integrations.services.tokens import api_tokens_revoke_for_user


@receiver(staff_departed, dispatch_uid="keyhold.integrations.revoke_tokens")
def revoke_tokens_of_departed_staff(sender, user_id, **kwargs) -> None:
    api_tokens_revoke_for_user(user_id=user_id)
