"""Reads of automated rotation: a credential's target, what it may act with, a task's attempts.

Always scoped to the clients the actor may see; nothing here reads a secret.
"""

from django.db.models import QuerySet

from accounts.models import User
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from tenants.models import AccessLevel, Client
from vault.models import Credential


def _visible_clients(actor: User) -> QuerySet[Client]:
    return Client.objects.for_user(actor, AccessLevel.VIEW)


def rotation_target_for_credential(*, actor: User, credential: Credential) -> RotationTarget | None:
    """The credential's target, with its privileged credential's name; None when not set up."""
    return (
        RotationTarget.objects.filter(
            credential_id=credential.pk,
            client_id=credential.client_id,
            client__in=_visible_clients(actor),
        )
        .select_related("privileged_credential")
        .defer(
            "privileged_credential__secret",
            "privileged_credential__notes",
            "privileged_credential__totp_seed",
        )
        .first()
    )


def rotation_privileged_choices(*, actor: User, credential: Credential) -> QuerySet[Credential]:
    """Credentials of the same client a target may act with: not the credential itself, not a
    sealed emergency credential, not archived (by name)."""
    return (
        Credential.objects.filter(
            client_id=credential.client_id, client__in=_visible_clients(actor)
        )
        .exclude(pk=credential.pk)
        .exclude(is_emergency=True)
        .exclude(status=Credential.Status.ARCHIVED)
        .only("id", "name", "username", "client_id")
        .order_by("name", "pk")
    )


def rotation_attempt_list_for_task(*, actor: User, task: RotationTask) -> list[RotationAttempt]:
    """A task's automated attempts, oldest first (status, failed step, reason, times, runs)."""
    return list(
        RotationAttempt.objects.filter(task_id=task.pk, client__in=_visible_clients(actor))
        .defer("pending_secret")
        .order_by("created_at", "pk")
    )
