"""Checkout pages: request, the credential page's panel, my checkouts, the approval queue;
the client's vault policy; the step-up check of high-privilege reveals."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.mfa import mfa_verified_within
from accounts.models import Role
from config.errors import AccessDenied, FieldInvalid, InvalidRequest
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import selectors
from vault.forms import CheckoutNoteForm, CheckoutRequestForm, VaultPolicyForm
from vault.models import ClientVaultPolicy, Credential, PrivilegeTier
from vault.selectors import checkouts as checkout_selectors
from vault.selectors.policies import vault_policy_for
from vault.services import checkouts as checkout_services


def _client(request, slug, level=AccessLevel.VIEW):
    return tenant_selectors.client_get_for_user(actor=request.user, slug=slug, level=level)


def _is_manager(request) -> bool:
    return request.user.has_role(Role.MANAGER)


# --- The credential page ---------------------------------------------------------------------


def checkout_panel_context(
    request, *, client, credential: Credential, policy: ClientVaultPolicy
) -> dict:
    """The checkout panel of a credential page; no query for other tiers than high."""
    if credential.privilege_tier != PrivilegeTier.HIGH:
        return {"checkout_panel": None}
    panel = checkout_selectors.checkout_panel_for(actor=request.user, credential=credential)
    usable = credential.status != Credential.Status.ARCHIVED and not credential.is_emergency
    return {
        "checkout_panel": panel,
        "checkout_policy": policy,
        "checkout_form": CheckoutRequestForm(policy=policy, auto_id="checkout_%s"),
        "can_checkout": usable and credential.my_level >= AccessLevel.PRIVILEGED,
        "can_revoke_checkout": _is_manager(request),
    }


def step_up_response(request, *, client, credential: Credential) -> HttpResponse | None:
    """For a high-privilege reveal: an error fragment when MFA is not recent, else None."""
    if credential.privilege_tier != PrivilegeTier.HIGH:
        return None
    if mfa_verified_within(request, settings.MFA_STEP_UP_MINUTES):
        return None
    page = reverse(
        "vault:credential_detail", kwargs={"slug": client.slug, "credential_id": credential.pk}
    )
    verify = f"{reverse('accounts:mfa_verify')}?{urlencode({'next': page, 'step_up': '1'})}"
    return render(
        request,
        "vault/checkouts/step_up_required.html",
        {"verify_url": verify, "minutes": settings.MFA_STEP_UP_MINUTES},
        status=403,
    )


# --- Request, answer, return -----------------------------------------------------------------


def checkout_request(request, slug, credential_id):
    client = _client(request, slug)
    credential = selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW, client=client
    )
    policy = vault_policy_for(actor=request.user, client=client)
    form = CheckoutRequestForm(request.POST or None, policy=policy)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                checkout = checkout_services.checkout_request(
                    actor=request.user,
                    credential=credential,
                    ticket=form.cleaned_data["ticket"],
                    reason=form.cleaned_data["reason"],
                    duration_minutes=form.cleaned_data["duration_minutes"],
                )
            except (InvalidRequest, AccessDenied) as error:
                form.add_error(None, error.message)
                status = 403 if isinstance(error, AccessDenied) else 200
            else:
                if checkout.status == checkout.Status.ACTIVE:
                    messages.success(
                        request,
                        f"{credential.name} is checked out to you until "
                        f"{checkout.expires_at:%H:%M} ({checkout.duration_minutes} minutes).",
                    )
                else:
                    messages.success(
                        request,
                        f"Your request for {credential.name} is waiting for a manager of "
                        f"{client.name}.",
                    )
                return redirect(
                    "vault:credential_detail", slug=client.slug, credential_id=credential.pk
                )
        elif client.my_level < AccessLevel.PRIVILEGED:
            _client(request, slug, AccessLevel.PRIVILEGED)
    elif client.my_level < AccessLevel.PRIVILEGED:
        _client(request, slug, AccessLevel.PRIVILEGED)  # AccessDenied in the MSP's words
    return render(
        request,
        "vault/checkouts/request.html",
        {"client": client, "credential": credential, "form": form, "policy": policy},
        status=status,
    )


def _back(request, checkout):
    target = request.POST.get("next", "")
    if target == "approvals":
        return redirect("vault:checkout_approvals")
    if target == "mine":
        return redirect("vault:checkout_mine")
    return redirect(
        "vault:credential_detail", slug=checkout.client.slug, credential_id=checkout.credential_id
    )


def _act(request, checkout_id, action, success):
    checkout = checkout_selectors.checkout_get_for_user(actor=request.user, checkout_id=checkout_id)
    try:
        action(checkout)
    except (InvalidRequest, AccessDenied) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success.format(credential=checkout.credential.name))
    return _back(request, checkout)


def _note(request) -> str:
    form = CheckoutNoteForm(request.POST)
    return form.cleaned_data["note"] if form.is_valid() else request.POST.get("note", "")[:501]


@require_POST
def checkout_cancel(request, checkout_id):
    return _act(
        request,
        checkout_id,
        lambda c: checkout_services.checkout_cancel(actor=request.user, checkout=c),
        "Your request for {credential} was cancelled.",
    )


@require_POST
def checkout_check_in(request, checkout_id):
    return _act(
        request,
        checkout_id,
        lambda c: checkout_services.checkout_check_in(actor=request.user, checkout=c),
        "{credential} is checked in. It is now due for rotation.",
    )


@require_POST
def checkout_approve(request, checkout_id):
    note = _note(request)
    return _act(
        request,
        checkout_id,
        lambda c: checkout_services.checkout_approve(actor=request.user, checkout=c, note=note),
        "The checkout of {credential} is approved and has started.",
    )


@require_POST
def checkout_deny(request, checkout_id):
    note = _note(request)
    return _act(
        request,
        checkout_id,
        lambda c: checkout_services.checkout_deny(actor=request.user, checkout=c, note=note),
        "The request for {credential} was denied.",
    )


@require_POST
def checkout_revoke(request, checkout_id):
    note = _note(request)
    return _act(
        request,
        checkout_id,
        lambda c: checkout_services.checkout_revoke(actor=request.user, checkout=c, note=note),
        "The checkout of {credential} was revoked. It is now due for rotation.",
    )


# --- Lists -----------------------------------------------------------------------------------


def checkout_mine(request):
    mine = checkout_selectors.checkout_list_mine(actor=request.user)
    return render(request, "vault/checkouts/mine.html", {"mine": mine})


def checkout_approvals(request):
    queue = checkout_selectors.checkout_approval_queue(actor=request.user)
    return render(
        request, "vault/checkouts/approvals.html", {"queue": queue, "note_form": CheckoutNoteForm()}
    )


# --- Client vault policy ---------------------------------------------------------------------


def vault_policy(request, slug):
    client = _client(request, slug)
    policy = vault_policy_for(actor=request.user, client=client)
    can_edit = client.my_level >= AccessLevel.MANAGE
    initial = {
        "reveal_ticket_required": policy.reveal_ticket_required,
        "checkout_approval_required": policy.checkout_approval_required,
        "checkout_default_minutes": policy.checkout_default_minutes,
        "checkout_max_minutes": policy.checkout_max_minutes,
    }
    form = VaultPolicyForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                checkout_services.client_vault_policy_update(
                    actor=request.user, client=client, **form.cleaned_data
                )
            except FieldInvalid as error:
                form.add_error(error.field, error.message)
            except InvalidRequest as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"The vault policy of {client.name} was saved.")
                return redirect("vault:vault_policy", slug=client.slug)
        elif not can_edit:
            _client(request, slug, AccessLevel.MANAGE)
    return render(
        request,
        "vault/checkouts/vault_policy.html",
        {"client": client, "policy": policy, "form": form, "can_edit": can_edit},
    )
