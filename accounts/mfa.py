"""Session-side MFA state: marking a session verified, and the step-up check.

django-otp keeps which device verified the session; Keyhold adds when, so that sensitive
actions can ask for a verification within the last few minutes.
"""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django_otp.models import Device

MFA_VERIFIED_AT = "keyhold_mfa_verified_at"
SESSION_STARTED_AT = "keyhold_session_started_at"


def mfa_not_required(view: Callable) -> Callable:
    """Mark a view as reachable by a signed-in session that has not passed MFA yet."""
    view.mfa_not_required = True
    return view


def session_mark_mfa_verified(request: HttpRequest, device: Device) -> None:
    """Record the verification and give the session a new key (no fixation across MFA)."""
    request.session.cycle_key()
    django_otp.login(request, device)
    request.session[MFA_VERIFIED_AT] = timezone.now().timestamp()


def mfa_verified_within(request: HttpRequest, minutes: int) -> bool:
    verified_at = request.session.get(MFA_VERIFIED_AT)
    if verified_at is None or not request.user.is_verified():
        return False
    return timezone.now().timestamp() - verified_at <= minutes * 60


def recent_mfa_required(view: Callable) -> Callable:
    """Step-up: the wrapped view needs an MFA verification within MFA_STEP_UP_MINUTES."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if mfa_verified_within(request, settings.MFA_STEP_UP_MINUTES):
            return view(request, *args, **kwargs)
        next_url = request.get_full_path() if request.method == "GET" else request.path
        query = urlencode({"next": next_url, "step_up": "1"})
        return redirect(f"{reverse('accounts:mfa_verify')}?{query}")

    return wrapper
