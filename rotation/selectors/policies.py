"""Reads of a client's rotation policy and of the intervals its credentials follow."""

from django.db.models import QuerySet

from accounts.models import User
from rotation.models import RotationPolicy
from tenants.models import Client
from vault.models import Credential, PrivilegeTier


def rotation_policy_for(*, actor: User | None, client: Client) -> RotationPolicy:
    """The client's rotation policy; the defaults (unsaved) when the client has none.

    The caller has already reached `client` through Client.objects.for_user (or is a job).
    """
    policy = RotationPolicy.objects.filter(client_id=client.pk).first()
    return policy if policy is not None else RotationPolicy(client=client)


def tier_interval_days(*, policy: RotationPolicy, tier: str) -> int | None:
    """The client's interval for a privilege tier; None: no schedule for that tier."""
    return {
        PrivilegeTier.HIGH: policy.high_privilege_days,
        PrivilegeTier.SERVICE: policy.service_days,
        PrivilegeTier.STANDARD: policy.standard_days,
    }[PrivilegeTier(tier)]


def effective_interval_days(
    *, policy: RotationPolicy, tier: str, own_days: int | None
) -> int | None:
    """The interval a credential follows: its own when shorter than the client's, else the client's.

    A per-credential interval may only ask for more rotation, never less: a longer one is
    capped at the client's interval for the tier.
    """
    client_days = tier_interval_days(policy=policy, tier=tier)
    if own_days is None:
        return client_days
    if client_days is None:
        return own_days
    return min(own_days, client_days)


def credential_overrides_for_client(*, actor: User, client: Client) -> QuerySet[Credential]:
    """The client's active credentials that carry an interval of their own (metadata only)."""
    return (
        Credential.objects.filter(client_id=client.pk, rotation_interval_days__isnull=False)
        .exclude(status=Credential.Status.ARCHIVED)
        .only(
            "id",
            "client_id",
            "name",
            "privilege_tier",
            "rotation_interval_days",
            "next_rotation_due",
            "is_emergency",
        )
        .order_by("name", "pk")
    )
