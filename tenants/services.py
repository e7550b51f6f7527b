"""Writes for clients, systems and assignments; each one transaction.

Assignments are the source of truth for access. Every grant and revoke keeps the matching
django-guardian object permissions on the Client in step, in the same transaction.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, remove_perm

from accounts.models import Role, User
from accounts.services import require_role
from config.errors import AccessDenied, InvalidRequest
from tenants.models import AccessLevel, Assignment, Client, System
from tenants.selectors import client_level_for_user

_ASSIGNING_ROLES = (Role.MANAGER, Role.ADMINISTRATOR)
_CLIENT_CREATING_ROLES = (Role.MANAGER, Role.ADMINISTRATOR, Role.ONBOARDING)


def _sync_guardian_permissions(user: User, client: Client, level: int | None) -> None:
    for each in AccessLevel:
        codename = f"tenants.{each.permission_codename}"
        if level is not None and each <= level:
            assign_perm(codename, user, client)
        else:
            remove_perm(codename, user, client)


def _require_manage(actor: User, client: Client, *, action: str) -> None:
    level = client_level_for_user(actor=actor, client=client)
    if level is None or level < AccessLevel.MANAGE:
        raise AccessDenied(
            f"You need manage access to {client.name} to {action}. Ask a manager to assign you."
        )


def client_create(
    *,
    actor: User,
    name: str,
    slug: str = "",
    status: str = Client.Status.ONBOARDING,
    psa_company_id: str = "",
    business_time_zone: str = "UTC",
) -> Client:
    """Create a client; its creator is assigned to it with manage access."""
    require_role(actor, *_CLIENT_CREATING_ROLES, action="add clients")
    name = name.strip()
    slug = slugify(slug or name)[:80]
    if not name or not slug:
        raise InvalidRequest("Give the client a name.")
    try:
        with transaction.atomic():
            client = Client(
                name=name,
                slug=slug,
                status=status,
                psa_company_id=psa_company_id.strip(),
                business_time_zone=business_time_zone,
            )
            client.full_clean(validate_unique=False)
            client.save()
            _assignment_create(
                client=client, user=actor, level=AccessLevel.MANAGE, granted_by=actor
            )
    except IntegrityError:
        raise InvalidRequest(f"Another client already uses the short name “{slug}”.") from None
    except ValidationError as error:
        raise InvalidRequest(" ".join(error.messages)) from None
    return client


def system_create(*, actor: User, client: Client, name: str, kind: str) -> System:
    _require_manage(actor, client, action="add systems")
    name = name.strip()
    if not name:
        raise InvalidRequest("Give the system a name.")
    if kind not in System.Kind.values:
        raise InvalidRequest("Choose what kind of system this is.")
    try:
        with transaction.atomic():
            return System.objects.create(client=client, name=name, kind=kind)
    except IntegrityError:
        raise InvalidRequest(f"{client.name} already has a system named “{name}”.") from None


def _assignment_create(
    *, client: Client, user: User, level: AccessLevel, granted_by: User | None
) -> Assignment:
    assignment = Assignment.objects.create(
        client=client, user=user, level=level, granted_by=granted_by
    )
    _sync_guardian_permissions(user, client, level)
    return assignment


def assignment_grant(
    *, actor: User | None, client: Client, user: User, level: AccessLevel
) -> Assignment:
    """Give `user` access to `client` at `level`; a changed level closes the old grant.

    `actor` None is the system itself (demo data, set-up scripts).
    """
    if actor is not None:
        require_role(actor, *_ASSIGNING_ROLES, action="assign staff to clients")
        _require_manage(actor, client, action="assign staff")
    if not user.is_active:
        raise InvalidRequest(f"{user} is deactivated and cannot be assigned.")
    level = AccessLevel(level)
    with transaction.atomic():
        current = (
            Assignment.objects.select_for_update()
            .filter(client=client, user=user, revoked_at__isnull=True)
            .first()
        )
        if current is not None:
            if current.level == level:
                return current
            current.revoked_at = timezone.now()
            current.revoked_by = actor
            current.save(update_fields=["revoked_at", "revoked_by"])
        return _assignment_create(client=client, user=user, level=level, granted_by=actor)


def assignment_revoke(*, actor: User, assignment: Assignment) -> None:
    """End a grant now; the row stays as history."""
    require_role(actor, *_ASSIGNING_ROLES, action="revoke client access")
    _require_manage(actor, assignment.client, action="revoke access")
    with transaction.atomic():
        updated = Assignment.objects.filter(pk=assignment.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor
        )
        if not updated:
            raise InvalidRequest("This access was already revoked.")
        _sync_guardian_permissions(assignment.user, assignment.client, None)
