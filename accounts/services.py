"""Writes for staff accounts: invitations, MFA enrolment and verification, role changes.

Each public function is one transaction. `actor` is the staff member acting, or None where
the action is the system's own (command line set-up, an anonymous invitee).
"""

import base64
import logging
import secrets
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django_otp.models import Device

from accounts.models import (
    BackupCode,
    BackupCodeDevice,
    Invitation,
    Notification,
    OutboxMessage,
    Role,
    TotpDevice,
    User,
)
from accounts.signals import staff_departed
from audit import services as audit
from audit.models import AuditEvent, Outcome
from audit.services import Attempt, Target, recording_failures
from config.errors import AccessDenied, InvalidRequest, NotFound

logger = logging.getLogger(__name__)

BACKUP_CODE_COUNT = 10
_BACKUP_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TOTP_SECRET_BYTES = 20


class MfaMethod:
    TOTP = "totp"
    BACKUP_CODE = "backup"


_ROLE_PLURALS = {
    Role.TECHNICIAN: "technicians",
    Role.MANAGER: "managers",
    Role.ONBOARDING: "onboarding staff",
    Role.ADMINISTRATOR: "administrators",
    Role.AUDITOR: "auditors",
}


def require_role(actor: User, *roles: str, action: str) -> None:
    """Raise AccessDenied, worded for the person, unless the actor holds one of the roles."""
    if not actor.has_role(*roles):
        names = [_ROLE_PLURALS[role] for role in roles]
        allowed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise AccessDenied(f"Only {allowed} can {action}.")


def _set_roles(user: User, roles: list[str]) -> None:
    unknown = set(roles) - set(Role.values)
    if unknown:
        raise InvalidRequest(f"Unknown role: {', '.join(sorted(unknown))}.")
    groups = list(Group.objects.filter(name__in=roles))
    if len(groups) != len(set(roles)):
        raise ImproperlyConfigured("Role groups are missing: run `python manage.py migrate`.")
    user.groups.set(groups)
    user.is_staff = Role.ADMINISTRATOR in roles
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("_role_names", None)


def invitation_create(
    *, actor: User | None, email: str, full_name: str, roles: list[str]
) -> tuple[Invitation, str]:
    """Invite a staff member; returns the invitation and its token (shown once)."""
    email = email.strip().lower()
    attempt = Attempt(actor=actor, action="invitation.created", details={"email": email})
    with recording_failures(attempt):
        if actor is not None:
            require_role(actor, Role.ADMINISTRATOR, action="invite staff")
        return _invitation_create(actor=actor, email=email, full_name=full_name, roles=roles)


def _invitation_create(
    *, actor: User | None, email: str, full_name: str, roles: list[str]
) -> tuple[Invitation, str]:
    if not roles:
        raise InvalidRequest("Choose at least one role.")
    if set(roles) - set(Role.values):
        raise InvalidRequest("Unknown role.")
    if User.objects.filter(email=email).exists():
        raise InvalidRequest(f"{email} already has a Keyhold account.")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(
            email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            email=email,
            full_name=full_name.strip(),
            roles=sorted(set(roles)),
            token_hash=Invitation.hash_token(token),
            invited_by=actor,
            created_at=now,
            expires_at=now + timedelta(days=settings.INVITATION_VALID_DAYS),
        )
        audit.record(
            actor=actor,
            actor_label="" if actor else "command line",
            action="invitation.created",
            target=Target.of(invitation, label=email),
            details={"email": email, "roles": invitation.roles},
        )
    return invitation, token


def invitation_revoke(*, actor: User, invitation: Invitation) -> None:
    target = Target.of(invitation, label=invitation.email)
    with recording_failures(Attempt(actor=actor, action="invitation.revoked", target=target)):
        require_role(actor, Role.ADMINISTRATOR, action="revoke invitations")
        with transaction.atomic():
            updated = Invitation.objects.filter(
                pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
            ).update(revoked_at=timezone.now())
            if not updated:
                raise InvalidRequest("This invitation was already accepted or revoked.")
            audit.record(actor=actor, action="invitation.revoked", target=target)


def invitation_accept(*, token: str, full_name: str, password: str) -> User:
    """Create the invitee's account. The invitation works once, before it expires."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(token_hash=Invitation.hash_token(token))
            .first()
        )
        if invitation is None or not invitation.is_open:
            raise NotFound("This invitation is not valid. It may have expired or been used.")
        if User.objects.filter(email=invitation.email).exists():
            raise InvalidRequest("An account with this email already exists.")
        user = User(email=invitation.email, full_name=full_name.strip() or invitation.full_name)
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise InvalidRequest(" ".join(error.messages)) from None
        user.set_password(password)
        user.save()
        _set_roles(user, invitation.roles)
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        audit.record(
            actor=user,
            action="invitation.accepted",
            target=Target.of(invitation, label=invitation.email),
            details={"roles": invitation.roles},
        )
    return user


def invitations_purge_expired() -> int:
    """Delete invitations that were never accepted and expired over a week ago."""
    cutoff = timezone.now() - timedelta(days=7)
    with transaction.atomic():
        deleted, _ = Invitation.objects.filter(
            accepted_at__isnull=True, expires_at__lt=cutoff
        ).delete()
    return deleted


def totp_uri(*, user: User, secret: bytes) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    issuer = settings.OTP_TOTP_ISSUER
    label = quote(f"{issuer}:{user.email}")
    query = urlencode(
        {"secret": base32_secret(secret), "issuer": issuer, "digits": 6, "period": 30}
    )
    return f"otpauth://totp/{label}?{query}"


def base32_secret(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def totp_enrolment_start(*, actor: User) -> TotpDevice:
    """A pending authenticator for the actor; the same one is returned until confirmed."""
    if TotpDevice.objects.filter(user=actor, confirmed=True).exists():
        raise InvalidRequest(
            "You already have an authenticator app. Ask an administrator to "
            "reset your MFA to enrol a new one."
        )
    with transaction.atomic():
        pending = TotpDevice.objects.filter(user=actor, confirmed=False).first()
        if pending is not None:
            return pending
        return TotpDevice.objects.create(
            user=actor,
            name="Authenticator app",
            confirmed=False,
            sealed_secret=TotpDevice.seal_secret(
                secrets.token_bytes(TOTP_SECRET_BYTES), user_id=actor.pk
            ),
        )


def _backup_codes_replace(user: User) -> list[str]:
    device, _ = BackupCodeDevice.objects.get_or_create(
        user=user, defaults={"name": "Backup codes", "confirmed": True}
    )
    device.codes.all().delete()
    codes = [_new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    BackupCode.objects.bulk_create(
        BackupCode(device=device, code_digest=BackupCodeDevice.digest(code)) for code in codes
    )
    return codes


def _new_backup_code() -> str:
    raw = "".join(secrets.choice(_BACKUP_CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def totp_enrolment_confirm(*, actor: User, code: str) -> tuple[TotpDevice, list[str]]:
    """Confirm the pending authenticator with a code from it; returns the backup codes."""
    device = TotpDevice.objects.filter(user=actor, confirmed=False).first()
    if device is None:
        raise InvalidRequest("Start the enrolment again: no authenticator is waiting.")
    # The check commits on its own, so a failed attempt stays counted for throttling.
    if not device.verify_token(code):
        _record_mfa_failure(actor, method=MfaMethod.TOTP, during="enrolment")
        raise InvalidRequest(
            "That code is not valid. Check the time on your phone and try the current code."
        )
    with transaction.atomic():
        TotpDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        codes = _backup_codes_replace(actor)
        audit.record(actor=actor, action="mfa.enrolled", target=Target.of(actor))
    return device, codes


def _record_mfa_failure(actor: User, *, method: str, during: str) -> None:
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="mfa.verification_failed",
            outcome=Outcome.DENIED,
            details={"method": method, "during": during},
        )


def backup_codes_regenerate(*, actor: User) -> list[str]:
    """Replace the actor's backup codes; the old ones stop working at once."""
    with transaction.atomic():
        codes = _backup_codes_replace(actor)
        audit.record(actor=actor, action="mfa.backup_codes_regenerated", target=Target.of(actor))
    return codes


def mfa_verify(*, actor: User, method: str, code: str) -> Device:
    """Check a code against the one device the actor chose, so methods never share throttles."""
    if method == MfaMethod.TOTP:
        device = TotpDevice.objects.filter(user=actor, confirmed=True).first()
    elif method == MfaMethod.BACKUP_CODE:
        device = BackupCodeDevice.objects.filter(user=actor, confirmed=True).first()
    else:
        raise InvalidRequest("Choose how you want to verify.")
    # Each check is a single conditional UPDATE, and a failure must stay counted for
    # throttling, so nothing here may be rolled back by the error below.
    if device is None or not device.verify_token(code):
        _record_mfa_failure(actor, method=method, during="sign-in")
        raise InvalidRequest("That code is not valid.")
    with transaction.atomic():
        audit.record(actor=actor, action="mfa.verified", details={"method": method})
    return device


def _end_all_sessions(user: User) -> None:
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)


def mfa_reset(*, actor: User, user: User) -> None:
    """Remove a user's MFA devices; they must enrol again at their next login."""
    target = Target.of(user)
    with recording_failures(Attempt(actor=actor, action="mfa.reset", target=target)):
        require_role(actor, Role.ADMINISTRATOR, action="reset MFA")
        with transaction.atomic():
            TotpDevice.objects.filter(user=user).delete()
            BackupCodeDevice.objects.filter(user=user).delete()
            _end_all_sessions(user)
            audit.record(actor=actor, action="mfa.reset", target=target)


def user_deactivate(*, actor: User, user: User) -> None:
    """Disable login and end every session of the user at once."""
    target = Target.of(user)
    with recording_failures(Attempt(actor=actor, action="staff.deactivated", target=target)):
        require_role(actor, Role.ADMINISTRATOR, action="deactivate staff")
        if user.pk == actor.pk:
            raise InvalidRequest("You cannot deactivate your own account.")
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(is_active=False)
            _end_all_sessions(user)
            audit.record(actor=actor, action="staff.deactivated", target=target)
            _staff_departed_on_commit(user)


def _staff_departed_on_commit(user: User) -> None:
    user_id = user.pk
    transaction.on_commit(lambda: staff_departed.send(sender=User, user_id=user_id))


def user_depart(*, actor: User, user: User) -> AuditEvent:
    """Disable a departing staff member's login and end every session (managers too).

    The departure's own service calls this inside its transaction and cites the returned
    event in its evidence log. Once committed, staff_departed tells the API to revoke the
    person's tokens.
    """
    target = Target.of(user)
    details = {"departure": True}
    attempt = Attempt(actor=actor, action="staff.deactivated", target=target, details=details)
    with recording_failures(attempt):
        require_role(actor, Role.MANAGER, Role.ADMINISTRATOR, action="record a staff departure")
        if user.pk == actor.pk:
            raise InvalidRequest("You cannot record your own departure.")
        with transaction.atomic():
            if not User.objects.filter(pk=user.pk, is_active=True).update(is_active=False):
                raise InvalidRequest(f"{user} is already deactivated.")
            _end_all_sessions(user)
            event = audit.record(
                actor=actor, action="staff.deactivated", target=target, details=details
            )
            _staff_departed_on_commit(user)
    user.is_active = False
    return event


def user_roles_set(*, actor: User, user: User, roles: list[str]) -> None:
    target = Target.of(user)
    attempt = Attempt(actor=actor, action="staff.roles_changed", target=target)
    with recording_failures(attempt):
        require_role(actor, Role.ADMINISTRATOR, action="change roles")
        if not roles:
            raise InvalidRequest("Choose at least one role.")
        if user.pk == actor.pk and Role.ADMINISTRATOR not in roles:
            raise InvalidRequest("You cannot remove your own administrator role.")
        before = sorted(user.role_names)
        with transaction.atomic():
            _set_roles(user, roles)
            audit.record(
                actor=actor,
                action="staff.roles_changed",
                target=target,
                details={"before": before, "after": sorted(set(roles))},
            )


BREAK_GLASS_PERMISSION = ("vault", "open_emergency")


def break_glass_set(*, actor: User, user: User, allowed: bool) -> None:
    """Let one person open sealed emergency credentials, or stop them (administrators).

    Managers have it through their role; this grants it to someone else by name. The
    permission is the vault's, named here by app label and codename only.
    """
    target = Target.of(user)
    action = "staff.break_glass_changed"
    attempt = Attempt(actor=actor, action=action, target=target, details={"allowed": allowed})
    with recording_failures(attempt):
        require_role(actor, Role.ADMINISTRATOR, action="grant break-glass access")
        if allowed and not user.is_active:
            raise InvalidRequest(f"{user} is deactivated and cannot be given break-glass access.")
        app_label, codename = BREAK_GLASS_PERMISSION
        permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
        with transaction.atomic():
            if allowed:
                user.user_permissions.add(permission)
            else:
                user.user_permissions.remove(permission)
            audit.record(actor=actor, action=action, target=target, details={"allowed": allowed})


def demo_staff_member_create(
    *, actor: None, email: str, full_name: str, roles: list[str], password: str
) -> User:
    """A demo account with MFA already enrolled, so a newcomer can log in without a phone."""
    with transaction.atomic():
        user = User.objects.create_user(
            email=email, password=password, full_name=full_name, is_demo=True
        )
        _set_roles(user, roles)
        TotpDevice.objects.create(
            user=user,
            name="Demo authenticator",
            confirmed=True,
            sealed_secret=TotpDevice.seal_secret(
                secrets.token_bytes(TOTP_SECRET_BYTES), user_id=user.pk
            ),
        )
        _backup_codes_replace(user)
        audit.record(
            actor=actor,
            actor_label="seed_demo",
            action="staff.created",
            target=Target.of(user),
            details={"roles": roles, "demo": True},
        )
    return user


def notifications_mark_read(*, actor: User) -> int:
    """Mark the actor's notices read; reading one's own notices is not an audited action."""
    with transaction.atomic():
        return Notification.objects.filter(user=actor, read_at__isnull=True).update(
            read_at=timezone.now()
        )


# --- Alerts --------------------------------------------------------------------------------
# An alert is an in-app notice and an outbox email per recipient, written inside the
# transaction of the action it reports: if the action commits, the alert cannot be lost to a
# mail, Redis or Celery outage; if the alert cannot be written, the action does not happen.
# outbox_drain delivers the emails later and retries with backoff.
OUTBOX_BATCH = 100
OUTBOX_FIRST_RETRY = timedelta(minutes=1)
OUTBOX_MAX_RETRY = timedelta(hours=1)
# After this many failed sends of one message, administrators get one in-app notice.
OUTBOX_ADMIN_NOTICE_AFTER = 5
OUTBOX_SEND_TIMEOUT_SECONDS = 30
OUTBOX_ERROR_MAX = 200


class AlertWriteError(Exception):
    """The alert could not be written; the action it reports must not happen."""


def alert_send(
    *,
    actor: User | None,
    topic: str,
    recipients: Iterable[User],
    subject: str,
    body: str,
    link: str = "",
    notice: str = "",
) -> int:
    """Write a notice and an outbox email per recipient inside the caller's transaction.

    `topic` is the audit action the alert reports; `subject`, `body` and `notice` (the
    in-app text, the subject unless given) never hold a secret; the email ends with the
    absolute address of `link` (a path in Keyhold). Returns how many people were alerted;
    raises AlertWriteError if the rows cannot be written (the caller's transaction then
    rolls back with its action).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("alert_send() runs inside the transaction of the action it reports")
    people = list({user.pk: user for user in recipients}.values())
    if link:
        body = f"{body.rstrip()}\n\nOpen it in Keyhold: {settings.KEYHOLD_BASE_URL}{link}\n"
    try:
        Notification.objects.bulk_create(
            Notification(user=user, message=(notice or subject)[:500], link=link[:200])
            for user in people
        )
        OutboxMessage.objects.bulk_create(
            OutboxMessage(
                topic=topic[:64],
                recipient=user.email,
                subject=subject[:200],
                body=body,
            )
            for user in people
            if user.email
        )
    except DatabaseError as error:
        raise AlertWriteError(f"could not write the {topic} alert") from error
    return len(people)


def alert_managers(
    *, actor: User | None, topic: str, subject: str, body: str, link: str = ""
) -> int:
    """Alert every active manager (see alert_send), inside the caller's transaction."""
    managers = User.objects.filter(is_active=True, groups__name=Role.MANAGER).distinct()
    return alert_send(
        actor=actor, topic=topic, recipients=managers, subject=subject, body=body, link=link
    )


def _outbox_retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after each failure, never more than an hour."""
    return min(OUTBOX_FIRST_RETRY * (2 ** max(attempts - 1, 0)), OUTBOX_MAX_RETRY)


def _outbox_error_text(error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"
    password = settings.EMAIL_HOST_PASSWORD
    if password:
        text = text.replace(password, "[redacted]")
    return text[:OUTBOX_ERROR_MAX]


def _outbox_notify_administrators(message: OutboxMessage) -> None:
    administrators = User.objects.filter(is_active=True, groups__name=Role.ADMINISTRATOR)
    notice = (
        f"An alert email to {message.recipient} ({message.topic}) failed "
        f"{message.attempts} times; Keyhold keeps retrying. Check the mail settings. "
        f"Last error: {message.last_error}"
    )
    Notification.objects.bulk_create(
        Notification(user=admin, message=notice[:500]) for admin in administrators.distinct()
    )


def outbox_drain(*, limit: int = OUTBOX_BATCH) -> int:
    """Send due alert emails; a failed send is retried later with backoff. Returns sent."""
    now = timezone.now()
    due = list(
        OutboxMessage.objects.filter(sent_at__isnull=True, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "created_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not due:
        return 0
    mail = get_connection(fail_silently=False, timeout=OUTBOX_SEND_TIMEOUT_SECONDS)
    sent = 0
    for pk in due:
        with transaction.atomic():
            # The row stays locked while it is sent: a concurrent drain skips it rather
            # than sending it twice (PostgreSQL; SQLite serialises writers anyway).
            message = (
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, sent_at__isnull=True, next_attempt_at__lte=now)
                .first()
            )
            if message is None:
                continue
            try:
                EmailMessage(
                    subject=message.subject,
                    body=message.body,
                    to=[message.recipient],
                    connection=mail,
                ).send()
            except Exception as error:  # any transport failure is retried, never lost
                message.attempts += 1
                message.last_error = _outbox_error_text(error)
                message.next_attempt_at = timezone.now() + _outbox_retry_delay(message.attempts)
                message.save(update_fields=["attempts", "last_error", "next_attempt_at"])
                logger.warning(
                    "outbox.send_failed",
                    extra={"outbox_id": str(message.pk), "attempts": message.attempts},
                )
                if message.attempts == OUTBOX_ADMIN_NOTICE_AFTER:
                    _outbox_notify_administrators(message)
            else:
                message.attempts += 1
                message.sent_at = timezone.now()
                message.last_error = ""
                message.save(update_fields=["attempts", "sent_at", "last_error"])
                sent += 1
    return sent
