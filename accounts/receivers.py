"""Audit events for sign-in, sign-out, failed sign-in and lockout.

These come from django.contrib.auth's and django-axes's own signals (framework events, not
domain signals): every way in, the admin included, passes through them. A failure to record
raises, so the request fails with a 500 and its session is not saved.
"""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from audit import services as audit
from audit.models import ActorKind, Outcome


def _attempted_email(credentials: dict | None) -> str:
    return str((credentials or {}).get("username") or "")[:254].strip().lower() or "(empty)"


@receiver(user_logged_in, dispatch_uid="keyhold.audit.signed_in")
def record_signed_in(sender, request, user, **kwargs) -> None:
    with transaction.atomic():
        audit.record(actor=user, action="staff.signed_in")


@receiver(user_logged_out, dispatch_uid="keyhold.audit.signed_out")
def record_signed_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    with transaction.atomic():
        audit.record(actor=user, action="staff.signed_out")


@receiver(user_login_failed, dispatch_uid="keyhold.audit.sign_in_failed")
def record_sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    with transaction.atomic():
        audit.record(
            actor=None,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=_attempted_email(credentials),
            action="staff.sign_in_failed",
            outcome=Outcome.DENIED,
        )


@receiver(user_locked_out, dispatch_uid="keyhold.audit.locked_out")
def record_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    with transaction.atomic():
        audit.record(
            actor=None,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=str(username or "(empty)")[:254],
            action="staff.locked_out",
            outcome=Outcome.DENIED,
        )
