"""Session rules that apply to every request before any view runs."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from accounts.mfa import SESSION_STARTED_AT
from accounts.models import TotpDevice


class SessionLifetimeMiddleware:
    """Ends a session past its absolute lifetime, however active it has been."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            started = request.session.get(SESSION_STARTED_AT)
            limit = settings.SESSION_MAX_LIFETIME_HOURS * 3600
            if started is None or timezone.now().timestamp() - started > limit:
                logout(request)
                messages.info(request, "Your session has ended. Please sign in again.")
                return redirect(settings.LOGIN_URL)
        return self.get_response(request)


class MfaRequiredMiddleware:
    """Until a session has passed MFA, only login, MFA and logout views are served.

    Runs after Django's LoginRequiredMiddleware, so anonymous requests never get here for a
    protected view; the Django admin is covered like every other view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        if getattr(view_func, "mfa_not_required", False):
            return None
        if not getattr(view_func, "login_required", True):
            return None
        has_authenticator = TotpDevice.objects.filter(user=user, confirmed=True).exists()
        target = "accounts:mfa_verify" if has_authenticator else "accounts:mfa_enrol"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
