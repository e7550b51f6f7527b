"""Credentials: create, update and archive them, keeping old secrets as versions; reveal.

Every function is one transaction that records its audit event as its last write.
"""

import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from audit.models import Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import AccessDenied, FieldInvalid, InvalidRequest
from tenants.models import AccessLevel, Client, System
from tenants.selectors import client_get_for_user
from vault.envelope import (
    field_decrypt,
    field_encrypt,
    recording_decryption_failures,
)
from vault.hosts import host_clean
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    CREDENTIAL_VERSION_RECORD_TYPE,
    Checkout,
    Credential,
    CredentialSecretVersion,
    CredentialType,
    PrivilegeTier,
    Tag,
    privilege_tier_for,
)

# --- Credentials -------------------------------------------------------------------------

NAME_MAX = 200
USED_BY_MAX = 2000
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,49}$")


class _Keep:
    """The default of credential_update's fields: leave the value as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


def _choice(value: str, choices: type[models.TextChoices], what: str) -> str:
    if value not in choices.values:
        raise InvalidRequest(f"{value!r} is not a known {what}.")
    return value


def _name_clean(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidRequest("Give the credential a name.")
    if len(name) > NAME_MAX:
        raise InvalidRequest(f"A credential name is at most {NAME_MAX} characters.")
    return name


def _used_by_clean(used_by: str) -> str:
    used_by = used_by.replace("\r\n", "\n").strip()
    if len(used_by) > USED_BY_MAX:
        raise InvalidRequest(
            f"Where the secret is used is at most {USED_BY_MAX} characters; "
            "name the places and keep the details in the notes."
        )
    return used_by


def _interval_clean(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= 3650:
        raise InvalidRequest("The rotation interval is 1 to 3650 days.")
    return days


def _tag_names_clean(tags: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
    for name in names:
        if not TAG_PATTERN.match(name):
            raise InvalidRequest(
                f"{name!r} is not a valid tag: use letters, digits, dots, dashes or "
                "underscores (up to 50)."
            )
    return names


def _tags_for(names: list[str]) -> list[Tag]:
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    return [existing.get(name) or Tag.objects.get_or_create(name=name)[0] for name in names]


def _system_check(system: System | None, client: Client) -> None:
    if system is not None and system.client_id != client.pk:
        raise InvalidRequest(
            f"That system is not one of {client.name}'s systems; choose one of theirs."
        )


def _next_due(last_rotated_at: datetime | None, interval_days: int | None) -> datetime | None:
    if last_rotated_at is None or interval_days is None:
        return None
    return last_rotated_at + timedelta(days=interval_days)


def _seal(*, client: Client, record_type: str, record_id: Any, field: str, value: str) -> bytes:
    return field_encrypt(
        client=client,
        record_type=record_type,
        record_id=str(record_id),
        field=field,
        plaintext=value.encode("utf-8"),
    )


def _credential_target(credential: Credential) -> Target:
    return Target(type="vault.credential", id=str(credential.pk), label=credential.name[:254])


@sensitive_variables("secret", "notes", "totp_seed")
def credential_create(
    *,
    actor: User,
    client: Client,
    name: str,
    credential_type: str,
    secret: str,
    username: str = "",
    system: System | None = None,
    access_method: str = Credential.AccessMethod.OTHER,
    host: str = "",
    notes: str = "",
    totp_seed: str = "",
    is_shared: bool = False,
    is_emergency: bool = False,
    mfa_on_path: str = Credential.MfaOnPath.UNKNOWN,
    rotation_interval_days: int | None = None,
    last_rotated_at: datetime | None = None,
    source: str = Credential.Source.MANUAL,
    requested_tier: str = "",
    tags: Iterable[str] = (),
    used_by: str = "",
    status: str = Credential.Status.ACTIVE,
) -> Credential:
    """Store a new credential of the client, its secret, notes and seed sealed; manage level.

    `status` records what is known at arrival: exposed (received by email or chat) or
    compromised (inherited from a previous provider); an archived credential is not created.
    """
    credential_id = uuid.uuid4()
    target = Target(type="vault.credential", id=str(credential_id), label=name.strip()[:254])
    attempt = Attempt(actor=actor, action="credential.created", client=client, target=target)
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        name = _name_clean(name)
        _choice(credential_type, CredentialType, "credential type")
        _choice(access_method, Credential.AccessMethod, "access method")
        _choice(mfa_on_path, Credential.MfaOnPath, "MFA setting")
        _choice(source, Credential.Source, "source")
        if status not in _EDITABLE_STATUSES:
            raise InvalidRequest(
                f"{status!r} is not a status a new credential can have: "
                "choose active, exposed or compromised."
            )
        if requested_tier:
            _choice(requested_tier, PrivilegeTier, "privilege tier")
        if not secret:
            raise InvalidRequest("Enter the secret, or let Keyhold generate one.")
        _system_check(system, client)
        host = host_clean(host)
        used_by = _used_by_clean(used_by)
        interval = _interval_clean(rotation_interval_days)
        tag_names = _tag_names_clean(tags)
        now = timezone.now()
        if last_rotated_at is None and source == Credential.Source.MANUAL:
            # A secret typed or generated by the MSP is fresh; inherited ones are not.
            last_rotated_at = now
        binding = {
            "client": client,
            "record_type": CREDENTIAL_RECORD_TYPE,
            "record_id": credential_id,
        }
        with transaction.atomic():
            credential = Credential.objects.create(
                id=credential_id,
                client=client,
                system=system,
                name=name,
                credential_type=credential_type,
                privilege_tier=privilege_tier_for(credential_type, requested_tier),
                username=username.strip(),
                access_method=access_method,
                host=host,
                secret=_seal(**binding, field="secret", value=secret),
                notes=_seal(**binding, field="notes", value=notes),
                totp_seed=_seal(**binding, field="totp_seed", value=totp_seed)
                if totp_seed
                else None,
                is_shared=is_shared,
                is_emergency=bool(is_emergency),
                used_by=used_by,
                mfa_on_path=mfa_on_path,
                last_rotated_at=last_rotated_at,
                rotation_interval_days=interval,
                next_rotation_due=_next_due(last_rotated_at, interval),
                source=source,
                status=status,
                created_at=now,
                updated_at=now,
            )
            if tag_names:
                credential.tags.set(_tags_for(tag_names))
            record(
                actor=actor,
                action="credential.created",
                client=client,
                target=_credential_target(credential),
                details={
                    "type": str(credential_type),
                    "tier": str(credential.privilege_tier),
                    "source": str(source),
                    "status": str(status),
                    "system": str(system.pk) if system else "",
                    "emergency": bool(is_emergency),
                },
            )
    return credential


_METADATA_FIELDS = (
    "name",
    "credential_type",
    "system",
    "username",
    "access_method",
    "host",
    "is_shared",
    "is_emergency",
    "mfa_on_path",
    "rotation_interval_days",
    "last_rotated_at",
    "status",
    "used_by",
)
_EDITABLE_STATUSES = (
    Credential.Status.ACTIVE,
    Credential.Status.EXPOSED,
    Credential.Status.COMPROMISED,
)


@sensitive_variables("secret", "notes", "totp_seed")
def credential_update(
    *,
    actor: User | None,
    credential: Credential,
    name: str = KEEP,
    credential_type: str = KEEP,
    requested_tier: str = KEEP,
    system: System | None = KEEP,
    username: str = KEEP,
    access_method: str = KEEP,
    host: str = KEEP,
    is_shared: bool = KEEP,
    is_emergency: bool = KEEP,
    mfa_on_path: str = KEEP,
    rotation_interval_days: int | None = KEEP,
    last_rotated_at: datetime | None = KEEP,
    status: str = KEEP,
    tags: Iterable[str] = KEEP,
    used_by: str = KEEP,
    secret: str | None = None,
    notes: str | None = None,
    totp_seed: str | None = None,
    reason: str = "",
    rotating: bool = False,
) -> Credential:
    """Change a credential (manage level); a new secret keeps the old one as a version.

    `secret` None or empty keeps the secret; `notes` and `totp_seed` None keep them, an
    empty string clears them. `rotating`: a rotation task is being completed, so only the
    secret changes and use level suffices (privileged for high-privilege credentials);
    only a rotation may have no actor (automated rotation, after verifying on the target).
    """
    client = credential.client
    target = _credential_target(credential)
    attempt = Attempt(actor=actor, action="credential.updated", client=client, target=target)
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        level = AccessLevel.MANAGE
        if rotating:
            kept = (name, credential_type, requested_tier, system, username, access_method)
            kept += (host, is_shared, is_emergency, mfa_on_path, rotation_interval_days)
            kept += (last_rotated_at, status, tags, used_by)
            if not secret or notes is not None or totp_seed is not None:
                raise InvalidRequest("A rotation changes the secret, and only the secret.")
            if any(value is not KEEP for value in kept):
                raise InvalidRequest("A rotation changes the secret, and only the secret.")
            high = credential.privilege_tier == PrivilegeTier.HIGH
            level = AccessLevel.PRIVILEGED if high else AccessLevel.USE
        if actor is not None:
            client_get_for_user(actor=actor, slug=client.slug, level=level)
        elif not rotating:
            raise AccessDenied("Only a rotation changes a credential without a person.")
        with transaction.atomic():
            current = Credential.objects.select_for_update().filter(pk=credential.pk).first()
            if current is None:
                raise InvalidRequest("This credential no longer exists.")
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; it can no longer be changed.")
            new = {field: getattr(current, field) for field in _METADATA_FIELDS}
            given = {
                "name": name,
                "credential_type": credential_type,
                "system": system,
                "username": username,
                "access_method": access_method,
                "host": host,
                "is_shared": is_shared,
                "is_emergency": is_emergency,
                "mfa_on_path": mfa_on_path,
                "rotation_interval_days": rotation_interval_days,
                "last_rotated_at": last_rotated_at,
                "status": status,
                "used_by": used_by,
            }
            new.update({field: value for field, value in given.items() if value is not KEEP})
            new["name"] = _name_clean(new["name"])
            _choice(new["credential_type"], CredentialType, "credential type")
            _choice(new["access_method"], Credential.AccessMethod, "access method")
            _choice(new["mfa_on_path"], Credential.MfaOnPath, "MFA setting")
            if new["status"] not in _EDITABLE_STATUSES:
                raise InvalidRequest("Use Archive to archive a credential.")
            new["username"] = new["username"].strip()
            new["is_emergency"] = bool(new["is_emergency"])
            if not new["is_emergency"] and current.seal_broken_at is not None:
                raise InvalidRequest(
                    "This emergency credential's seal is broken. Change its secret and re-seal "
                    "it before making it an ordinary credential."
                )
            new["host"] = host_clean(new["host"])
            new["used_by"] = _used_by_clean(new["used_by"])
            new["rotation_interval_days"] = _interval_clean(new["rotation_interval_days"])
            _system_check(new["system"], client)
            if requested_tier is KEEP:
                derived = privilege_tier_for(current.credential_type)
                overridden = current.privilege_tier != derived
                requested_tier = current.privilege_tier if overridden else ""
            elif requested_tier:
                _choice(requested_tier, PrivilegeTier, "privilege tier")
            new_tier = privilege_tier_for(new["credential_type"], requested_tier)
            changed = [f for f in _METADATA_FIELDS if new[f] != getattr(current, f)]
            if new_tier != current.privilege_tier:
                changed.append("privilege_tier")

            binding = {
                "client": client,
                "record_type": CREDENTIAL_RECORD_TYPE,
                "record_id": current.pk,
            }
            sealed: dict[str, bytes | None] = {}
            now = timezone.now()
            if secret:
                old = field_decrypt(
                    client=client,
                    record_type=CREDENTIAL_RECORD_TYPE,
                    record_id=str(current.pk),
                    field="secret",
                    sealed=current.secret,
                )
                if old != secret.encode("utf-8"):
                    _secret_version_keep(
                        actor=actor, credential=current, old=old, reason=reason, now=now
                    )
                    sealed["secret"] = _seal(**binding, field="secret", value=secret)
                    if "last_rotated_at" not in changed:
                        new["last_rotated_at"] = now
                        changed.append("last_rotated_at")
                    changed.append("secret")
            if notes is not None:
                sealed["notes"] = _seal(**binding, field="notes", value=notes)
                changed.append("notes")
            if totp_seed is not None:
                sealed["totp_seed"] = (
                    _seal(**binding, field="totp_seed", value=totp_seed) if totp_seed else None
                )
                changed.append("totp_seed")
            tag_objects = None
            if tags is not KEEP:
                tag_names = _tag_names_clean(tags)
                if sorted(tag_names) != sorted(t.name for t in current.tags.all()):
                    tag_objects = _tags_for(tag_names)
                    changed.append("tags")

            for field, value in new.items():
                setattr(current, field, value)
            for field, value in sealed.items():
                setattr(current, field, value)
            if "secret" in sealed:
                # A new secret is the rotation a lease end or a broken seal asked for.
                current.rotation_required_at = None
                current.rotation_required_reason = ""
            current.privilege_tier = new_tier
            current.next_rotation_due = _next_due(
                current.last_rotated_at, current.rotation_interval_days
            )
            current.updated_at = now
            current.save()
            if tag_objects is not None:
                current.tags.set(tag_objects)
            record(
                actor=actor,
                action="credential.updated",
                client=client,
                target=_credential_target(current),
                reason=reason,
                details={"changed": sorted(set(changed))},
            )
    return current


def _secret_version_keep(
    *, actor: User | None, credential: Credential, old: bytes, reason: str, now: datetime
) -> CredentialSecretVersion:
    highest = CredentialSecretVersion.objects.filter(credential=credential).aggregate(
        highest=Max("version")
    )["highest"]
    version_id = uuid.uuid4()
    return CredentialSecretVersion.objects.create(
        id=version_id,
        client_id=credential.client_id,
        credential=credential,
        version=(highest or 0) + 1,
        secret=field_encrypt(
            client=credential.client,
            record_type=CREDENTIAL_VERSION_RECORD_TYPE,
            record_id=str(version_id),
            field="secret",
            plaintext=old,
        ),
        created_at=now,
        created_by=actor,
        reason=reason.strip()[:200],
    )


def credential_archive(*, actor: User, credential: Credential, reason: str) -> Credential:
    """Archive a credential (manage level): kept with its versions, out of the lists."""
    client = credential.client
    target = _credential_target(credential)
    attempt = Attempt(actor=actor, action="credential.archived", client=client, target=target)
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        if not reason.strip():
            raise InvalidRequest("Say why this credential is being archived.")
        with transaction.atomic():
            current = Credential.objects.select_for_update().filter(pk=credential.pk).first()
            if current is None:
                raise InvalidRequest("This credential no longer exists.")
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is already archived.")
            previous = current.status
            current.status = Credential.Status.ARCHIVED
            current.updated_at = timezone.now()
            current.save(update_fields=["status", "updated_at"])
            record(
                actor=actor,
                action="credential.archived",
                client=client,
                target=_credential_target(current),
                reason=reason,
                details={"previous_status": str(previous)},
            )
    return current


# --- Reveal --------------------------------------------------------------------------------

REVEAL_PURPOSES = ("reveal", "copy")
TICKET_MAX = 64
EMERGENCY_REFUSAL = (
    "This is a sealed emergency credential. Open it from the client's Emergency section, "
    "with a reason; the managers are alerted."
)
HIGH_TIER_REFUSAL = (
    "High-privilege credentials are revealed only to the holder of an active checkout. "
    "Check it out against your ticket first."
)
TICKET_REQUIRED_REFUSAL = (
    "Name the ticket this reveal is for: reveals through an API token always need one."
)


def reveal_ticket_required(*, actor: User | None, client: Client) -> bool:
    """Whether a reveal of the client's credentials needs a ticket (the client's policy)."""
    from vault.selectors.policies import vault_policy_for

    return vault_policy_for(actor=actor, client=client).reveal_ticket_required


@sensitive_variables("plaintext", "secret")
def credential_reveal(
    *,
    actor: User,
    credential: Credential,
    ticket: str,
    purpose: str = "reveal",
    reason: str = "",
    ticket_required: bool = False,
) -> str:
    """The plaintext secret of a credential (use level; a lease for high privilege), audited.

    The event is the last write of the transaction that decrypted the value, and the value
    is returned only once that transaction committed: if the event cannot be written the
    action fails (AuditWriteError) and nothing is returned. `purpose` says whether the
    secret is shown or copied; both are reveals. A high-privilege credential is revealed
    only to the holder of its active, unexpired checkout (the event names the checkout).
    `ticket_required`: the caller insists on a ticket whatever the client's policy (an API
    token); a reveal without one is refused as a field error and recorded as denied.
    """
    # Here, not at the top: vault.selectors imports this package (a cycle, as for policies).
    from vault.selectors.credentials import credential_get_sealed_to_reveal

    client = credential.client
    target = _credential_target(credential)
    ticket = ticket.strip()
    details = {"field": "secret", "tier": str(credential.privilege_tier), "purpose": purpose}
    attempt = Attempt(
        actor=actor,
        action="credential.revealed",
        client=client,
        target=target,
        ticket=ticket[:TICKET_MAX],
        details=details,
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        # The access check and the sealed value in one read, before anything is decided.
        current = credential_get_sealed_to_reveal(
            actor=actor, credential_id=credential.pk, client=client
        )
        if purpose not in REVEAL_PURPOSES:
            raise InvalidRequest("Choose Reveal or Copy.")
        if len(ticket) > TICKET_MAX:
            raise InvalidRequest(f"A ticket reference is at most {TICKET_MAX} characters.")
        if ticket_required and not ticket:
            # Bad input to the caller, yet a refused reveal all the same: on the record.
            with transaction.atomic():
                record(
                    actor=actor,
                    action="credential.revealed",
                    outcome=Outcome.DENIED,
                    client=client,
                    target=target,
                    reason=TICKET_REQUIRED_REFUSAL,
                    details=details,
                )
            raise FieldInvalid("ticket", TICKET_REQUIRED_REFUSAL)
        with transaction.atomic():
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; its secret is not revealed.")
            if current.is_emergency:
                raise AccessDenied(EMERGENCY_REFUSAL)
            if current.privilege_tier == PrivilegeTier.HIGH:
                # Only the holder of a lease that is active now; the time is checked here,
                # so a lease is over at its end even before the expiry job has run.
                now = timezone.now()
                lease = (
                    Checkout.objects.filter(
                        credential_id=current.pk,
                        requested_by=actor,
                        status=Checkout.Status.ACTIVE,
                        starts_at__lte=now,
                        expires_at__gt=now,
                    )
                    .only("id", "ticket")
                    .first()
                )
                if lease is None:
                    raise AccessDenied(HIGH_TIER_REFUSAL)
                if current.my_level < AccessLevel.PRIVILEGED:
                    raise AccessDenied(
                        f"Your access to {client.name} no longer includes high-privilege "
                        "credentials. Ask a manager to change your assignment."
                    )
                details["checkout"] = str(lease.pk)
                ticket = ticket or lease.ticket
            if not ticket and reveal_ticket_required(actor=actor, client=client):
                raise InvalidRequest("Enter the ticket number this reveal is for.")
            plaintext = field_decrypt(
                client=client,
                record_type=CREDENTIAL_RECORD_TYPE,
                record_id=str(current.pk),
                field="secret",
                sealed=current.secret,
            )
            record(
                actor=actor,
                action="credential.revealed",
                client=client,
                target=_credential_target(current),
                ticket=ticket,
                reason=reason,
                details={**details, "tier": str(current.privilege_tier)},
            )
    return plaintext.decode("utf-8")
