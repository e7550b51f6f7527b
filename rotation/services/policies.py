"""Rotation policies: a client's intervals per privilege tier, the next due dates they give,
and how new passwords are generated for the client.

The vault stores `next_rotation_due` on each credential for fast scans; the rotation app
derives it from the policy (last rotation, or creation, plus the effective interval) and
stores it with one bulk UPDATE per tier. The vault never imports rotation.
"""

import string
from datetime import timedelta

from django.db import transaction
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from audit.services import Attempt, Target, record, recording_failures
from config.errors import FieldInvalid, InvalidRequest
from rotation.models import RotationPolicy
from rotation.selectors.policies import (
    effective_interval_days,
    rotation_policy_for,
    tier_interval_days,
)
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user
from vault import generator
from vault.models import Credential, PrivilegeTier

# Sane bounds: a client may ask for more rotation than the defaults, and a little less.
HIGH_PRIVILEGE_DAYS = (1, 365)
SERVICE_DAYS = (1, 1825)
STANDARD_DAYS = (1, 730)
OWN_INTERVAL_DAYS = (1, 3650)
PASSWORD_LENGTH = (16, 128)
PASSWORD_EXCLUDE_MAX = 64
# The kinds of character every generated password holds one of (vault.generator's classes).
_PASSWORD_KINDS = (
    ("lowercase letters", string.ascii_lowercase),
    ("capital letters", string.ascii_uppercase),
    ("digits", string.digits),
    ("symbols", generator.SYMBOLS),
)


def _bounds_check(field: str, value: int | None, bounds: tuple[int, int], what: str) -> None:
    low, high = bounds
    if value is None or not low <= value <= high:
        raise FieldInvalid(field, f"{what} is {low} to {high} days.")


def _values_check(*, high_privilege_days: int, service_days: int, standard_days: int | None):
    _bounds_check(
        "high_privilege_days",
        high_privilege_days,
        HIGH_PRIVILEGE_DAYS,
        "The interval for high-privilege credentials",
    )
    _bounds_check("service_days", service_days, SERVICE_DAYS, "The interval for service accounts")
    if standard_days is not None:
        _bounds_check(
            "standard_days",
            standard_days,
            STANDARD_DAYS,
            "The interval for standard user credentials (leave it empty for none)",
        )


def _password_exclude_clean(exclude: str) -> str:
    """Each excluded character once, as typed; whitespace only separates them.

    Generated passwords never contain whitespace, and people list characters as "$ % `".
    """
    cleaned = "".join(dict.fromkeys(char for char in exclude if not char.isspace()))
    if len(cleaned) > PASSWORD_EXCLUDE_MAX:
        raise FieldInvalid(
            "password_exclude",
            f"Exclude at most {PASSWORD_EXCLUDE_MAX} different characters ({len(cleaned)} given).",
        )
    return cleaned


def _emptied_kinds(*, symbols: bool, exclude: str) -> list[str]:
    """The kinds of character the exclusions (and the generator's look-alikes) leave empty."""
    avoided = set(exclude) | generator.LOOK_ALIKES
    return [
        name
        for name, chars in _PASSWORD_KINDS
        if (symbols or name != "symbols") and set(chars) <= avoided
    ]


def _exclusion_message(*, symbols: bool, exclude: str, fallback: str) -> str:
    kinds = _emptied_kinds(symbols=symbols, exclude=exclude)
    if not kinds:
        return fallback
    message = (
        f"Excluding these characters leaves no {' and no '.join(kinds)} to choose from "
        "(look-alikes such as 0, O, 1, l and I are always left out); a generated password "
        "needs at least one of each kind. Exclude fewer"
    )
    return message + (", or leave symbols out." if "symbols" in kinds else ".")


def _length_check(length: int | None) -> None:
    low, high = PASSWORD_LENGTH
    if length is None or not low <= length <= high:
        raise FieldInvalid(
            "password_length", f"A generated password is {low} to {high} characters long."
        )


def _password_values_check(*, length: int, symbols: bool, exclude: str) -> None:
    """Bounds, then one real generation, so the generator's own rules decide what works."""
    _length_check(length)
    try:
        generator.password_generate(length=length, symbols=symbols, exclude=exclude)
    except InvalidRequest as error:
        raise FieldInvalid(
            "password_exclude",
            _exclusion_message(symbols=symbols, exclude=exclude, fallback=str(error.message)),
        ) from None


def _client_target(client: Client) -> Target:
    return Target(type="tenants.client", id=str(client.pk), label=client.name[:254])


def _due_expression(days: int) -> ExpressionWrapper:
    return ExpressionWrapper(
        Coalesce(F("last_rotated_at"), F("created_at")) + Value(timedelta(days=days)),
        output_field=DateTimeField(),
    )


def _recompute(*, policy: RotationPolicy, credentials: QuerySet[Credential]) -> int:
    """One UPDATE per tier: each credential's own interval (capped) or the client's."""
    updated = 0
    for tier in PrivilegeTier:
        rows = credentials.filter(privilege_tier=tier)
        own_values = sorted(
            set(
                rows.filter(rotation_interval_days__isnull=False)
                .order_by()
                .values_list("rotation_interval_days", flat=True)
            )
        )
        whens = [
            When(
                rotation_interval_days=own,
                then=_due_expression(
                    effective_interval_days(policy=policy, tier=tier, own_days=own)
                ),
            )
            for own in own_values
        ]
        client_days = tier_interval_days(policy=policy, tier=tier)
        default = (
            _due_expression(client_days)
            if client_days is not None
            else Value(None, output_field=DateTimeField())
        )
        updated += rows.update(
            next_rotation_due=Case(*whens, default=default, output_field=DateTimeField())
            if whens
            else default
        )
    return updated


def rotation_next_due_recompute(
    *, actor: User | None, client: Client, credential_ids: list | None = None
) -> int:
    """Store the next due date of the client's active credentials (or the given ones).

    Derived data in the caller's transaction (or its own); returns how many rows it wrote.
    """
    policy = rotation_policy_for(actor=actor, client=client)
    credentials = Credential.objects.filter(client_id=client.pk).exclude(
        status=Credential.Status.ARCHIVED
    )
    if credential_ids is not None:
        credentials = credentials.filter(pk__in=credential_ids)
    with transaction.atomic():
        return _recompute(policy=policy, credentials=credentials)


def rotation_next_due_fill_missing(*, actor: User | None) -> int:
    """Fill `next_rotation_due` where it is empty but a schedule applies (the due scan).

    The vault clears it when a secret changes without an interval of its own; only those
    credentials are recomputed, one bulk statement per tier and client.
    """
    scheduled_standard = RotationPolicy.objects.filter(standard_days__isnull=False).values(
        "client_id"
    )
    missing = (
        Credential.objects.filter(next_rotation_due__isnull=True)
        .exclude(status=Credential.Status.ARCHIVED)
        .filter(
            privilege_tier__in=[PrivilegeTier.HIGH, PrivilegeTier.SERVICE],
        )
        | Credential.objects.filter(next_rotation_due__isnull=True)
        .exclude(status=Credential.Status.ARCHIVED)
        .filter(rotation_interval_days__isnull=False)
        | Credential.objects.filter(
            next_rotation_due__isnull=True,
            privilege_tier=PrivilegeTier.STANDARD,
            client_id__in=scheduled_standard,
        ).exclude(status=Credential.Status.ARCHIVED)
    )
    client_ids = set(missing.order_by().values_list("client_id", flat=True).distinct())
    filled = 0
    for client in Client.objects.filter(pk__in=client_ids):
        # Only the empty ones: a stored due date may hold a cancellation's postponement.
        filled += rotation_next_due_recompute(
            actor=actor,
            client=client,
            credential_ids=missing.filter(client_id=client.pk).values("pk"),
        )
    return filled


def rotation_policy_update(
    *,
    actor: User,
    client: Client,
    high_privilege_days: int,
    service_days: int,
    standard_days: int | None,
    rotate_high_privilege_on_staff_change: bool,
    password_length: int,
    password_symbols: bool,
    password_exclude: str,
) -> RotationPolicy:
    """Set the client's rotation intervals and password rules (manage level).

    Next due dates follow at once; automated rotation and "Generate" use the password rules.
    """
    attempt = Attempt(
        actor=actor,
        action="rotation.policy_updated",
        client=client,
        target=_client_target(client),
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        _values_check(
            high_privilege_days=high_privilege_days,
            service_days=service_days,
            standard_days=standard_days,
        )
        password_exclude = _password_exclude_clean(password_exclude)
        _password_values_check(
            length=password_length, symbols=bool(password_symbols), exclude=password_exclude
        )
        with transaction.atomic():
            policy = RotationPolicy.objects.select_for_update().filter(client=client).first()
            if policy is None:
                policy = RotationPolicy(client=client)
                adding = True
            else:
                adding = False
            new = {
                "high_privilege_days": high_privilege_days,
                "service_days": service_days,
                "standard_days": standard_days,
                "rotate_high_privilege_on_staff_change": bool(
                    rotate_high_privilege_on_staff_change
                ),
            }
            rules = {
                "password_length": password_length,
                "password_symbols": bool(password_symbols),
                "password_exclude": password_exclude,
            }
            changed = {
                field: {"from": getattr(policy, field), "to": value}
                for field, value in new.items()
                if adding or getattr(policy, field) != value
            }
            # By name only: the audit log refuses password-like keys, values or not.
            rules_changed = sorted(
                field for field, value in rules.items() if adding or getattr(policy, field) != value
            )
            for field, value in {**new, **rules}.items():
                setattr(policy, field, value)
            policy.updated_at = timezone.now()
            policy.updated_by = actor
            policy.save()
            recomputed = _recompute(
                policy=policy,
                credentials=Credential.objects.filter(client_id=client.pk).exclude(
                    status=Credential.Status.ARCHIVED
                ),
            )
            record(
                actor=actor,
                action="rotation.policy_updated",
                client=client,
                target=attempt.target,
                details={
                    "changed": changed,
                    "generator_changed": rules_changed,
                    "rescheduled": recomputed,
                },
            )
    return policy


def rotation_password_generate(
    *, client: Client, length: int | None = None, symbols: bool | None = None
) -> str:
    """A new password by the client's rules: its length, symbols and excluded characters.

    `length` and `symbols` are a person's choice on "Generate"; the client's excluded
    characters always apply. Not audited here: the caller seals it and records its event.
    """
    policy = rotation_policy_for(actor=None, client=client)
    symbols = policy.password_symbols if symbols is None else symbols
    try:
        return generator.password_generate(
            length=policy.password_length if length is None else length,
            symbols=symbols,
            exclude=policy.password_exclude,
        )
    except InvalidRequest as error:
        kinds = _emptied_kinds(symbols=symbols, exclude=policy.password_exclude)
        if not kinds:
            raise
        remedy = "untick Include symbols, or ask" if kinds == ["symbols"] else "ask"
        raise InvalidRequest(
            f"{client.name}'s rotation policy excludes all the {' and all the '.join(kinds)}; "
            f"{remedy} a manager to change the excluded characters."
        ) from error


def credential_rotation_interval_set(
    *, actor: User, credential: Credential, days: int | None
) -> Credential:
    """Give a credential an interval of its own, within the client's interval for its tier.

    The vault changes the credential (manage level) and records credential.updated; the
    next due date is then derived from the client's policy.
    """
    from vault.services import credential_update

    client = credential.client
    policy = rotation_policy_for(actor=actor, client=client)
    if days is not None:
        _bounds_check("days", days, OWN_INTERVAL_DAYS, "A credential's own interval")
        limit = tier_interval_days(policy=policy, tier=credential.privilege_tier)
        if limit is not None and days > limit:
            raise FieldInvalid(
                "days",
                f"{client.name} rotates {PrivilegeTier(credential.privilege_tier).label.lower()} "
                f"credentials every {limit} days; a credential's own interval may be shorter, "
                "not longer.",
            )
    updated = credential_update(actor=actor, credential=credential, rotation_interval_days=days)
    # Derived data after the vault's event: when this is lost, the due scan fills it again.
    rotation_next_due_recompute(actor=actor, client=client, credential_ids=[updated.pk])
    updated.refresh_from_db(fields=["next_rotation_due"])
    return updated
