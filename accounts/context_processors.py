from accounts.models import Role
from accounts.selectors import notification_unread_count


def navigation(request):
    """What the header shows: only links the signed-in, MFA-verified user may follow."""
    user = getattr(request, "user", None)
    verified = bool(user and user.is_authenticated and user.is_verified())
    return {
        "nav_verified": verified,
        "nav_staff": verified and user.has_role(Role.ADMINISTRATOR, Role.MANAGER),
        "nav_can_create_client": verified
        and user.has_role(Role.ADMINISTRATOR, Role.MANAGER, Role.ONBOARDING),
        "nav_reviews": verified and user.has_role(Role.MANAGER, Role.AUDITOR),
        "nav_unread_notifications": notification_unread_count(actor=user) if verified else 0,
    }
