"""Reads for staff accounts. Staff are the MSP's own, not a client's: role-gated, not scoped."""

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import BackupCodeDevice, Invitation, Notification, Role, TotpDevice, User
from accounts.services import require_role
from config.errors import NotFound


def staff_list(*, actor: User, include_inactive: bool = True) -> QuerySet[User]:
    """Every staff member with roles and MFA state, for administrators and managers."""
    require_role(actor, Role.ADMINISTRATOR, Role.MANAGER, action="see the staff list")
    users = User.objects.prefetch_related("groups").annotate(
        has_mfa=Exists(TotpDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
    )
    if not include_inactive:
        users = users.filter(is_active=True)
    return users.order_by("-is_active", "full_name", "email")


def staff_get(*, actor: User, user_id: str) -> User:
    try:
        return staff_list(actor=actor).get(pk=user_id)
    except (User.DoesNotExist, ValueError):
        raise NotFound() from None


def invitation_list_open(*, actor: User) -> QuerySet[Invitation]:
    require_role(actor, Role.ADMINISTRATOR, action="see invitations")
    return Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def invitation_get_open(*, actor: User, invitation_id: str) -> Invitation:
    try:
        return invitation_list_open(actor=actor).get(pk=invitation_id)
    except (Invitation.DoesNotExist, ValueError):
        raise NotFound() from None


def invitation_get_by_token(*, token: str) -> Invitation:
    """The open invitation a link holder presents; anything else is one NotFound."""
    invitation = Invitation.objects.filter(token_hash=Invitation.hash_token(token)).first()
    if invitation is None or not invitation.is_open:
        raise NotFound("This invitation is not valid. It may have expired or been used.")
    return invitation


def mfa_status(*, actor: User) -> dict:
    """The actor's own MFA devices, for the account page."""
    totp = TotpDevice.objects.filter(user=actor, confirmed=True).first()
    backup = BackupCodeDevice.objects.filter(user=actor).first()
    return {
        "totp": totp,
        "backup_codes_remaining": backup.remaining_count() if backup else 0,
    }


def notification_list_for_user(*, actor: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=actor).order_by("-created_at")


def notification_unread_count(*, actor: User) -> int:
    return Notification.objects.filter(user=actor, read_at__isnull=True).count()


def confirmed_totp_exists(*, user: User) -> bool:
    return TotpDevice.objects.filter(user=user, confirmed=True).exists()
