"""Rotation's answers to other apps' signals."""

from django.dispatch import receiver

from accounts.models import User
from rotation.services.tasks import rotation_staff_change
from tenants.models import AccessLevel, Assignment, Client
from tenants.signals import client_access_lowered


@receiver(client_access_lowered)
def _rotate_after_staff_change(
    sender, *, actor: User | None, client: Client, user: User, level: AccessLevel | None, **kwargs
) -> None:
    """Someone who could open high-privilege credentials lost that access: rotate them now."""
    if level is not None and level >= AccessLevel.PRIVILEGED:
        return
    if client.status == Client.Status.OFFBOARDED:
        # The client left with its credentials handed over or already rotated: changing
        # them now would lock the client out of systems it was just given.
        return
    ended = (
        Assignment.objects.filter(client=client, user=user, revoked_at__isnull=False)
        .order_by("-revoked_at")
        .values_list("level", flat=True)
        .first()
    )
    if ended is None or ended < AccessLevel.PRIVILEGED:
        return
    # The scheduler opens the tasks: the person who changed the access may have just lost
    # theirs, and a refused rotation request must never undo the access change.
    rotation_staff_change(
        actor=None, client=client, detail=f"{user} no longer has privileged access"
    )
