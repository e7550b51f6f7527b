"""Sealed emergency credentials: a client's Emergency section, break-glass open, re-seal."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.mfa import mfa_verified_within
from accounts.services import AlertWriteError
from audit.services import AuditWriteError
from config.errors import AccessDenied, InvalidRequest, KeyholdError
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault.selectors.emergency import (
    emergency_abilities_for_user,
    emergency_get_for_user,
    emergency_list_for_user,
)
from vault.services.emergency import REASON_MAX, REASON_MIN, emergency_open, emergency_reseal

REVEAL_SECONDS = 30
NOT_RECORDED = (
    "Keyhold could not record this opening and alert the managers, so the secret was not "
    "shown and the seal is intact. Try again in a moment; if it keeps failing, call a manager."
)
STEP_UP_NEEDED = (
    "Opening a sealed credential needs a fresh MFA check. Confirm it is you, then open it again."
)


def _client(request, slug):
    return tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.VIEW
    )


def _step_up(request, slug, credential_id):
    """Send the person through MFA again, back to the open page (an htmx request navigates)."""
    back = reverse("vault:emergency_open", args=[slug, credential_id])
    verify = f"{reverse('accounts:mfa_verify')}?{urlencode({'next': back, 'step_up': '1'})}"
    if request.htmx:
        response = render(
            request,
            "vault/emergency/error.html",
            {"message": STEP_UP_NEEDED, "verify_url": verify},
            status=403,
        )
        response["HX-Redirect"] = verify
        return response
    return redirect(verify)


def emergency_list(request, slug):
    """The client's sealed emergency credentials and the state of each seal."""
    client = _client(request, slug)
    credentials = list(emergency_list_for_user(actor=request.user, client=client))
    return render(
        request,
        "vault/emergency/list.html",
        {
            "client": client,
            "credentials": credentials,
            **emergency_abilities_for_user(actor=request.user),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_variables("secret")
def emergency_open_view(request, slug, credential_id):
    """GET: the break-glass page (reason, ticket). POST (htmx): the secret once, or an error.

    Both need an MFA verification within MFA_STEP_UP_MINUTES.
    """
    if not mfa_verified_within(request, settings.MFA_STEP_UP_MINUTES):
        return _step_up(request, slug, credential_id)
    if request.method == "GET":
        client = _client(request, slug)
        credential = emergency_get_for_user(
            actor=request.user, client=client, credential_id=credential_id
        )
        return render(
            request,
            "vault/emergency/open.html",
            {
                "client": client,
                "credential": credential,
                "reason_min": REASON_MIN,
                "reason_max": REASON_MAX,
                **emergency_abilities_for_user(actor=request.user),
            },
        )
    try:
        client = _client(request, slug)
        credential = emergency_get_for_user(
            actor=request.user, client=client, credential_id=credential_id
        )
        secret = emergency_open(
            actor=request.user,
            credential=credential,
            reason=request.POST.get("reason", ""),
            ticket=request.POST.get("ticket", ""),
        )
    except KeyholdError as error:
        return render(
            request, "vault/emergency/error.html", {"message": error.message}, status=error.status
        )
    except (AuditWriteError, AlertWriteError):
        return render(request, "vault/emergency/error.html", {"message": NOT_RECORDED}, status=503)
    opened = emergency_get_for_user(actor=request.user, client=client, credential_id=credential_id)
    return render(
        request,
        "vault/emergency/revealed.html",
        {"secret": secret, "seconds": REVEAL_SECONDS, "credential": opened, "client": client},
    )


@require_POST
def emergency_reseal_view(request, slug, credential_id):
    """A manager seals the credential again once its secret has changed."""
    client = _client(request, slug)
    credential = emergency_get_for_user(
        actor=request.user, client=client, credential_id=credential_id
    )
    try:
        emergency_reseal(actor=request.user, credential=credential)
    except (InvalidRequest, AccessDenied) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{credential.name} is sealed again.")
    if request.POST.get("back") == "detail":
        return redirect("vault:credential_detail", slug=client.slug, credential_id=credential.pk)
    return redirect("vault:emergency_list", slug=client.slug)
