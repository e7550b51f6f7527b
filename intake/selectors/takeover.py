"""Reads of a client's takeover checklist, scoped to the staff who manage the client."""

from accounts.models import User
from config.errors import NotFound
from intake.models import TakeoverStep
from rotation.models import RotationTask
from tenants.models import AccessLevel, Client
from vault.models import Credential


def takeover_step_get(*, actor: User, client: Client, key: str) -> TakeoverStep:
    step = (
        TakeoverStep.objects.select_related("client")
        .filter(
            client=client,
            client__in=Client.objects.for_user(actor, AccessLevel.MANAGE),
            key=key,
        )
        .first()
    )
    if step is None:
        raise NotFound()
    return step


def takeover_inherited_waiting(*, actor: User, client: Client) -> int:
    """How many of the client's inherited credentials still have an open rotation task."""
    return (
        Credential.objects.filter(
            client=client,
            client__in=Client.objects.for_user(actor, AccessLevel.MANAGE),
            source=Credential.Source.INHERITED,
            rotation_tasks__status=RotationTask.Status.OPEN,
        )
        .exclude(status=Credential.Status.ARCHIVED)
        .distinct()
        .count()
    )
