"""Writes for clients, systems and assignments; each one transaction with its audit event.

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
from audit import services as audit
from audit.services import Attempt, Target, recording_failures
from config.errors import AccessDenied, InvalidRequest
from tenants.models import AccessLevel, Assignment, Client, System
from tenants.selectors import client_level_for_user
from tenants.signals import client_access_lowered

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
    name = name.strip()
    attempt = Attempt(actor=actor, action="client.created", details={"name": name[:200]})
    with recording_failures(attempt):
        require_role(actor, *_CLIENT_CREATING_ROLES, action="add clients")
        slug = slugify(slug or name)[:80]
        if not name or not slug:
            raise InvalidRequest("Give the client a name.")
        client = Client(
            name=name,
            slug=slug,
            status=status,
            psa_company_id=psa_company_id.strip(),
            business_time_zone=business_time_zone,
        )
        try:
            client.full_clean(validate_unique=False)
        except ValidationError as error:
            raise InvalidRequest(" ".join(error.messages)) from None
        try:
            with transaction.atomic():
                client.save()
                assignment = _assignment_create(
                    client=client, user=actor, level=AccessLevel.MANAGE, granted_by=actor
                )
                audit.record(
                    actor=actor,
                    action="client.created",
                    client=client,
                    target=Target.of(client),
                    details={"slug": client.slug, "status": client.status},
                )
                _record_grant(actor, assignment, previous_level=None)
        except IntegrityError:
            raise InvalidRequest(f"Another client already uses the short name “{slug}”.") from None
        return client


def system_create(*, actor: User, client: Client, name: str, kind: str) -> System:
    """Add a system to the client's inventory (manage access)."""
    name = name.strip()
    attempt = Attempt(actor=actor, action="system.created", client=client, details={"name": name})
    with recording_failures(attempt):
        _require_manage(actor, client, action="add systems")
        if not name:
            raise InvalidRequest("Give the system a name.")
        if kind not in System.Kind.values:
            raise InvalidRequest("Choose what kind of system this is.")
        try:
            with transaction.atomic():
                system = System.objects.create(client=client, name=name, kind=kind)
                audit.record(
                    actor=actor,
                    action="system.created",
                    client=client,
                    target=Target.of(system),
                    details={"kind": kind},
                )
        except IntegrityError:
            raise InvalidRequest(f"{client.name} already has a system named “{name}”.") from None
        return system


def _assignment_create(
    *, client: Client, user: User, level: AccessLevel, granted_by: User | None
) -> Assignment:
    assignment = Assignment.objects.create(
        client=client, user=user, level=level, granted_by=granted_by
    )
    _sync_guardian_permissions(user, client, level)
    return assignment


def _record_grant(
    actor: User | None, assignment: Assignment, *, previous_level: AccessLevel | None
) -> None:
    details = {"level": AccessLevel(assignment.level).short_label}
    if previous_level is not None:
        details["previous_level"] = previous_level.short_label
    audit.record(
        actor=actor,
        action="assignment.granted",
        client=assignment.client,
        target=Target.of(assignment.user),
        details=details,
    )


def assignment_grant(
    *, actor: User | None, client: Client, user: User, level: AccessLevel
) -> Assignment:
    """Give `user` access to `client` at `level`; a changed level closes the old grant.

    `actor` None is the system itself (demo data, set-up scripts).
    """
    level = AccessLevel(level)
    attempt = Attempt(
        actor=actor,
        action="assignment.granted",
        client=client,
        target=Target.of(user),
        details={"level": level.short_label},
    )
    with recording_failures(attempt):
        if actor is not None:
            require_role(actor, *_ASSIGNING_ROLES, action="assign staff to clients")
            _require_manage(actor, client, action="assign staff")
        if not user.is_active:
            raise InvalidRequest(f"{user} is deactivated and cannot be assigned.")
        with transaction.atomic():
            current = (
                Assignment.objects.select_for_update()
                .filter(client=client, user=user, revoked_at__isnull=True)
                .first()
            )
            previous_level = None
            if current is not None:
                if current.level == level:
                    return current
                previous_level = AccessLevel(current.level)
                current.revoked_at = timezone.now()
                current.revoked_by = actor
                current.save(update_fields=["revoked_at", "revoked_by"])
            assignment = _assignment_create(client=client, user=user, level=level, granted_by=actor)
            if previous_level is not None and level < previous_level:
                client_access_lowered.send(
                    sender=Assignment, actor=actor, client=client, user=user, level=level
                )
            _record_grant(actor, assignment, previous_level=previous_level)
            return assignment


def assignment_revoke(*, actor: User, assignment: Assignment) -> None:
    """End a grant now; the row stays as history."""
    attempt = Attempt(
        actor=actor,
        action="assignment.revoked",
        client=assignment.client,
        target=Target.of(assignment.user),
    )
    with recording_failures(attempt):
        require_role(actor, *_ASSIGNING_ROLES, action="revoke client access")
        _require_manage(actor, assignment.client, action="revoke access")
        with transaction.atomic():
            updated = Assignment.objects.filter(pk=assignment.pk, revoked_at__isnull=True).update(
                revoked_at=timezone.now(), revoked_by=actor
            )
            if not updated:
                raise InvalidRequest("This access was already revoked.")
            _sync_guardian_permissions(assignment.user, assignment.client, None)
            client_access_lowered.send(
                sender=Assignment,
                actor=actor,
                client=assignment.client,
                user=assignment.user,
                level=None,
            )
            audit.record(
                actor=actor,
                action="assignment.revoked",
                client=assignment.client,
                target=Target.of(assignment.user),
                details={"level": AccessLevel(assignment.level).short_label},
            )


def client_primary_technician_set(
    *, actor: User, client: Client, technician: User | None
) -> Client:
    """Choose who owns the client's rotation tasks (manage level); None: the managers' queue.

    The person must be assigned to the client with at least use level.
    """
    attempt = Attempt(
        actor=actor,
        action="client.primary_technician_set",
        client=client,
        target=Target.of(client),
        details={"technician": str(technician.pk) if technician else ""},
    )
    with recording_failures(attempt):
        _require_manage(actor, client, action="choose its primary technician")
        if technician is not None:
            level = client_level_for_user(actor=technician, client=client)
            if not technician.is_active or level is None or level < AccessLevel.USE:
                raise InvalidRequest(
                    f"{technician} is not assigned to {client.name} with use access or more; "
                    "assign them first."
                )
        with transaction.atomic():
            current = Client.objects.select_for_update().get(pk=client.pk)
            previous = current.primary_technician_id
            current.primary_technician = technician
            current.save(update_fields=["primary_technician"])
            audit.record(
                actor=actor,
                action="client.primary_technician_set",
                client=current,
                target=Target.of(current),
                details={
                    "technician": str(technician.pk) if technician else "",
                    "previous": str(previous or ""),
                },
            )
        return current


def client_status_set(*, actor: User, client: Client, status: str) -> Client:
    """Move the client through its life (onboarding, active, offboarding, offboarded); manage
    level, managers and administrators. Offboarding sets the last two."""
    attempt = Attempt(
        actor=actor,
        action="client.status_changed",
        client=client,
        target=Target.of(client),
        details={"status": str(status)[:20]},
    )
    with recording_failures(attempt):
        require_role(actor, *_ASSIGNING_ROLES, action="change a client's status")
        _require_manage(actor, client, action="change its status")
        if status not in Client.Status.values:
            raise InvalidRequest(f"{status!r} is not a known client status.")
        with transaction.atomic():
            current = Client.objects.select_for_update().get(pk=client.pk)
            previous = current.status
            if previous == status:
                return current
            current.status = status
            current.save(update_fields=["status"])
            audit.record(
                actor=actor,
                action="client.status_changed",
                client=current,
                target=Target.of(current),
                details={"status": status, "previous": previous},
            )
        return current
