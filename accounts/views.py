import segno
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import (
    InvitationAcceptForm,
    InvitationForm,
    LoginForm,
    MfaVerifyForm,
    RolesForm,
    TotpConfirmForm,
)
from accounts.mfa import (
    SESSION_STARTED_AT,
    mfa_not_required,
    recent_mfa_required,
    session_mark_mfa_verified,
)
from accounts.models import Role
from config.errors import InvalidRequest


def _safe_next(request, default: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(default)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        self.request.session[SESSION_STARTED_AT] = timezone.now().timestamp()
        return response


login_view = login_not_required(sensitive_post_parameters("password")(LoginView.as_view()))
logout_view = mfa_not_required(auth_views.LogoutView.as_view(next_page="accounts:login"))


@mfa_not_required
@never_cache
@sensitive_post_parameters("code")
def mfa_verify(request):
    if not selectors.confirmed_totp_exists(user=request.user):
        return redirect("accounts:mfa_enrol")
    form = MfaVerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.mfa_verify(
                actor=request.user,
                method=form.cleaned_data["method"],
                code=form.cleaned_data["code"],
            )
        except InvalidRequest as error:
            form.add_error("code", error.message)
        else:
            session_mark_mfa_verified(request, device)
            return redirect(_safe_next(request))
    return render(
        request,
        "accounts/mfa_verify.html",
        {
            "form": form,
            "next": request.GET.get("next", ""),
            "step_up": request.GET.get("step_up") == "1",
        },
    )


@mfa_not_required
@never_cache
@sensitive_post_parameters("code")
@sensitive_variables("device", "secret")
def mfa_enrol(request):
    if selectors.confirmed_totp_exists(user=request.user):
        return redirect("accounts:account" if request.user.is_verified() else "accounts:mfa_verify")
    device = services.totp_enrolment_start(actor=request.user)
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = services.totp_enrolment_confirm(
                actor=request.user, code=form.cleaned_data["code"]
            )
        except InvalidRequest as error:
            form.add_error("code", error.message)
        else:
            session_mark_mfa_verified(request, device)
            return render(
                request,
                "accounts/backup_codes.html",
                {"codes": codes, "next": _safe_next(request), "first_time": True},
            )
    secret = device.secret()
    uri = services.totp_uri(user=request.user, secret=secret)
    return render(
        request,
        "accounts/mfa_enrol.html",
        {
            "form": form,
            "qr_data_uri": segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
            "secret_text": services.base32_secret(secret),
            "next": request.GET.get("next", ""),
        },
    )


@never_cache
def account(request):
    return render(
        request,
        "accounts/account.html",
        {"mfa": selectors.mfa_status(actor=request.user)},
    )


@require_POST
@recent_mfa_required
@never_cache
def backup_codes_regenerate(request):
    codes = services.backup_codes_regenerate(actor=request.user)
    return render(
        request,
        "accounts/backup_codes.html",
        {"codes": codes, "next": reverse("accounts:account"), "first_time": False},
    )


INVITATION_TOKEN = "keyhold_invitation_token"  # noqa: S105 (a session key name)


@login_not_required
@never_cache
def invitation_open(request, token: str):
    """Move the token from the link into the session, so it leaves the address bar."""
    selectors.invitation_get_by_token(token=token)
    request.session[INVITATION_TOKEN] = token
    return redirect("accounts:invitation_accept")


@login_not_required
@never_cache
@sensitive_post_parameters("password", "password_confirm")
def invitation_accept(request):
    token = request.session.get(INVITATION_TOKEN, "")
    invitation = selectors.invitation_get_by_token(token=token)
    form = InvitationAcceptForm(request.POST or None, initial={"full_name": invitation.full_name})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password"],
            )
        except InvalidRequest as error:
            form.add_error("password", error.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session.pop(INVITATION_TOKEN, None)
            request.session[SESSION_STARTED_AT] = timezone.now().timestamp()
            return redirect("accounts:mfa_enrol")
    return render(
        request, "accounts/invitation_accept.html", {"form": form, "invitation": invitation}
    )


def staff_list(request):
    return render(
        request,
        "accounts/staff_list.html",
        {
            "staff": selectors.staff_list(actor=request.user),
            "invitations": selectors.invitation_list_open(actor=request.user)
            if request.user.has_role(Role.ADMINISTRATOR)
            else [],
        },
    )


@never_cache
def invitation_create(request):
    services.require_role(request.user, Role.ADMINISTRATOR, action="invite staff")
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, token = services.invitation_create(
                actor=request.user,
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                roles=form.cleaned_data["roles"],
            )
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            link = request.build_absolute_uri(reverse("accounts:invitation_open", args=[token]))
            return render(
                request,
                "accounts/invitation_created.html",
                {"invitation": invitation, "link": link},
            )
    return render(request, "accounts/invitation_form.html", {"form": form})


@require_POST
def invitation_revoke(request, invitation_id):
    invitation = selectors.invitation_get_open(actor=request.user, invitation_id=invitation_id)
    services.invitation_revoke(actor=request.user, invitation=invitation)
    messages.success(request, f"The invitation for {invitation.email} was revoked.")
    return redirect("accounts:staff_list")


def staff_detail(request, user_id):
    member = selectors.staff_get(actor=request.user, user_id=user_id)
    form = RolesForm(initial={"roles": sorted(member.role_names)})
    return render(
        request,
        "accounts/staff_detail.html",
        {
            "member": member,
            "roles_form": form,
            "break_glass": member.is_active and member.has_perm("vault.open_emergency"),
            "break_glass_by_role": member.has_role(Role.MANAGER),
        },
    )


@require_POST
def staff_roles_update(request, user_id):
    member = selectors.staff_get(actor=request.user, user_id=user_id)
    form = RolesForm(request.POST)
    if form.is_valid():
        try:
            services.user_roles_set(
                actor=request.user, user=member, roles=form.cleaned_data["roles"]
            )
        except InvalidRequest as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Roles of {member} updated.")
    else:
        messages.error(request, "Choose at least one role.")
    return redirect("accounts:staff_detail", user_id=member.pk)


@require_POST
@recent_mfa_required
def staff_break_glass_update(request, user_id):
    member = selectors.staff_get(actor=request.user, user_id=user_id)
    allowed = request.POST.get("allowed") == "yes"
    services.break_glass_set(actor=request.user, user=member, allowed=allowed)
    if allowed:
        messages.success(request, f"{member} may now open sealed emergency credentials.")
    else:
        messages.success(request, f"{member} may no longer open sealed emergency credentials.")
    return redirect("accounts:staff_detail", user_id=member.pk)


@require_POST
@recent_mfa_required
def staff_mfa_reset(request, user_id):
    member = selectors.staff_get(actor=request.user, user_id=user_id)
    services.mfa_reset(actor=request.user, user=member)
    messages.success(request, f"MFA of {member} was reset; they must enrol again to sign in.")
    return redirect("accounts:staff_detail", user_id=member.pk)


@require_POST
@recent_mfa_required
def staff_deactivate(request, user_id):
    member = selectors.staff_get(actor=request.user, user_id=user_id)
    try:
        services.user_deactivate(actor=request.user, user=member)
    except InvalidRequest as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{member} was deactivated and signed out everywhere.")
    return redirect("accounts:staff_detail", user_id=member.pk)


def notifications(request):
    if request.method == "POST":
        services.notifications_mark_read(actor=request.user)
        return redirect("accounts:notifications")
    return render(
        request,
        "accounts/notifications.html",
        {"notifications": selectors.notification_list_for_user(actor=request.user)[:100]},
    )
