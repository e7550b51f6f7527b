"""Sealed emergency (break-glass) credentials: open one with a reason, re-seal it after rotation.

Opening is one transaction: the secret is decrypted, the seal marked broken, the credential
marked for rotation, every manager alerted through the outbox and the event recorded as the
last write. The secret is returned only once all of that committed: if the alert or the event
cannot be written, nothing is revealed and the seal stays intact.
"""

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from accounts.services import alert_managers, require_role
from audit.services import Attempt, Target, record, recording_failures
from config.errors import AccessDenied, InvalidRequest, NotFound
from tenants.models import AccessLevel
from tenants.selectors import client_get_for_user
from vault.envelope import field_decrypt, recording_decryption_failures
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    Credential,
    CredentialSecretVersion,
    RotationRequiredReason,
)

OPEN_PERMISSION = "vault.open_emergency"
REASON_MIN = 10
REASON_MAX = 500
TICKET_MAX = 64
NO_PERMISSION = (
    "Opening sealed emergency credentials needs the break-glass permission, which managers "
    "hold. Ask a manager to open it for you, or an administrator to grant you the permission."
)
NOT_ROTATED = (
    "The secret has not been changed since the seal was broken. Change the secret (Edit, "
    "then a new secret) first; then re-seal it."
)


def _target(credential: Credential) -> Target:
    return Target(type="vault.credential", id=str(credential.pk), label=credential.name[:254])


def _reason_clean(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) < REASON_MIN:
        raise InvalidRequest(
            f"Say why you need to break the seal (at least {REASON_MIN} characters); the "
            "managers read it in their alert."
        )
    if len(reason) > REASON_MAX:
        raise InvalidRequest(f"Keep the reason under {REASON_MAX} characters.")
    return reason


def _alert_text(*, actor: User, credential: Credential, reason: str, ticket: str) -> str:
    client = credential.client
    lines = [
        f"{actor.full_name or actor.email} ({actor.email}) broke the seal of the emergency "
        f"credential {credential.name!r} of {client.name} at "
        f"{timezone.now():%Y-%m-%d %H:%M} UTC.",
        "",
        f"Reason given: {reason}",
    ]
    if ticket:
        lines.append(f"Ticket: {ticket}")
    lines += [
        "",
        "The credential is now due for rotation. Once its secret has been changed, a manager "
        "re-seals it from the client's Emergency section.",
        "If you did not expect this, review the audit log now.",
    ]
    return "\n".join(lines)


@sensitive_variables("plaintext")
def emergency_open(*, actor: User, credential: Credential, reason: str, ticket: str = "") -> str:
    """Break the seal of an emergency credential and return its secret; managers are alerted."""
    client = credential.client
    target = _target(credential)
    ticket = ticket.strip()
    details = {"field": "secret", "tier": str(credential.privilege_tier)}
    attempt = Attempt(
        actor=actor,
        action="credential.emergency_opened",
        client=client,
        target=target,
        ticket=ticket[:TICKET_MAX],
        details=details,
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.VIEW)
        if not actor.has_perm(OPEN_PERMISSION):
            raise AccessDenied(NO_PERMISSION)
        reason = _reason_clean(reason)
        if len(ticket) > TICKET_MAX:
            raise InvalidRequest(f"A ticket reference is at most {TICKET_MAX} characters.")
        with transaction.atomic():
            current = (
                Credential.objects.select_for_update()
                .select_related("client")
                .filter(pk=credential.pk, client_id=client.pk)
                .first()
            )
            if current is None:
                raise NotFound()
            if not current.is_emergency:
                raise InvalidRequest(
                    "This is not a sealed emergency credential; reveal it from its page."
                )
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; its secret is not revealed.")
            plaintext = field_decrypt(
                client=client,
                record_type=CREDENTIAL_RECORD_TYPE,
                record_id=str(current.pk),
                field="secret",
                sealed=current.secret,
            )
            now = timezone.now()
            first_break = current.seal_broken_at is None
            if first_break:
                current.seal_broken_at = now
                current.seal_broken_by = actor
            if current.rotation_required_at is None:
                current.rotation_required_at = now
            current.rotation_required_reason = RotationRequiredReason.EMERGENCY_OPENED
            current.updated_at = now
            current.save(
                update_fields=[
                    "seal_broken_at",
                    "seal_broken_by",
                    "rotation_required_at",
                    "rotation_required_reason",
                    "updated_at",
                ]
            )
            alerted = alert_managers(
                actor=actor,
                topic="credential.emergency_opened",
                subject=f"Keyhold: emergency credential {current.name} of {client.name} opened",
                body=_alert_text(actor=actor, credential=current, reason=reason, ticket=ticket),
                link=reverse("vault:emergency_list", args=[client.slug]),
            )
            record(
                actor=actor,
                action="credential.emergency_opened",
                client=client,
                target=_target(current),
                ticket=ticket,
                reason=reason,
                details={**details, "first_break": first_break, "managers_alerted": alerted},
            )
    return plaintext.decode("utf-8")


def _changed_since(credential: Credential) -> bool:
    """Whether the secret changed after the seal was broken (a new version or a rotation)."""
    broken_at = credential.seal_broken_at
    if credential.last_rotated_at is not None and credential.last_rotated_at > broken_at:
        return True
    return CredentialSecretVersion.objects.filter(
        credential_id=credential.pk, created_at__gt=broken_at
    ).exists()


def emergency_reseal(*, actor: User, credential: Credential) -> Credential:
    """Seal a broken emergency credential again (managers), once its secret has changed."""
    client = credential.client
    target = _target(credential)
    attempt = Attempt(
        actor=actor, action="credential.emergency_resealed", client=client, target=target
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.VIEW)
        require_role(actor, Role.MANAGER, action="re-seal emergency credentials")
        with transaction.atomic():
            current = (
                Credential.objects.select_for_update()
                .filter(pk=credential.pk, client_id=client.pk)
                .first()
            )
            if current is None:
                raise NotFound()
            if not current.is_emergency:
                raise InvalidRequest("This is not a sealed emergency credential.")
            if current.seal_broken_at is None:
                raise InvalidRequest("The seal is intact; there is nothing to re-seal.")
            if not _changed_since(current):
                raise InvalidRequest(NOT_ROTATED)
            broken_at = current.seal_broken_at
            broken_by_id = current.seal_broken_by_id
            current.seal_broken_at = None
            current.seal_broken_by = None
            if current.rotation_required_reason == RotationRequiredReason.EMERGENCY_OPENED:
                # The secret changed after the break: the rotation it required is done.
                current.rotation_required_at = None
                current.rotation_required_reason = ""
            current.updated_at = timezone.now()
            current.save(
                update_fields=[
                    "seal_broken_at",
                    "seal_broken_by",
                    "rotation_required_at",
                    "rotation_required_reason",
                    "updated_at",
                ]
            )
            record(
                actor=actor,
                action="credential.emergency_resealed",
                client=client,
                target=_target(current),
                details={
                    "seal_broken_at": broken_at.isoformat(),
                    "seal_broken_by": str(broken_by_id or ""),
                },
            )
    return current
