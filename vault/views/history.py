"""A credential's secret history page, the reveal of one old value, and the live TOTP code.

Reveal and code responses are htmx fragments, never cached; errors are fragments too, with
the error's status (keyhold.js swaps them in).
"""

from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from audit.services import AuditWriteError
from config.errors import KeyholdError
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import selectors
from vault.selectors import history as history_selectors
from vault.services import history as history_services
from vault.services.credentials import reveal_ticket_required
from vault.views import checkouts as checkout_views

REVEAL_SECONDS = 30
# A shown TOTP code keeps refreshing (one audited request per new window) this long.
TOTP_SHOW_SECONDS = 120
AUDIT_UNAVAILABLE = (
    "Keyhold could not record this in the audit log, so nothing was shown. Try again in a "
    "moment; if it keeps failing, tell an administrator."
)


def _credential(request, slug, credential_id):
    client = tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.VIEW
    )
    credential = selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW, client=client
    )
    return client, credential


def _error(request, message: str, status: int):
    return render(request, "vault/partials/reveal_error.html", {"message": message}, status=status)


@never_cache
def credential_history(request, slug, credential_id):
    client, credential = _credential(request, slug, credential_id)
    versions = history_services.credential_history_view(actor=request.user, credential=credential)
    return render(
        request,
        "vault/history/credential_history.html",
        {
            "client": client,
            "credential": credential,
            "versions": versions,
            "can_reveal": credential.status != credential.Status.ARCHIVED
            and not credential.is_emergency,
            "ticket_required": reveal_ticket_required(actor=request.user, client=client),
        },
    )


@never_cache
@require_POST
@sensitive_variables("secret")
def credential_version_reveal(request, slug, credential_id, version_id):
    try:
        client, credential = _credential(request, slug, credential_id)
        version = history_selectors.credential_version_get(
            actor=request.user, credential=credential, version_id=version_id
        )
        step_up = checkout_views.step_up_response(request, client=client, credential=credential)
        if step_up is not None:
            return step_up
        secret = history_services.credential_version_reveal(
            actor=request.user,
            credential=credential,
            version=version,
            ticket=request.POST.get("ticket", ""),
        )
    except KeyholdError as error:
        return _error(request, error.message, error.status)
    except AuditWriteError:
        return _error(request, AUDIT_UNAVAILABLE, 503)
    return render(
        request,
        "vault/partials/revealed_secret.html",
        {"secret": secret, "purpose": "reveal", "seconds": REVEAL_SECONDS},
    )


@never_cache
@require_POST
@sensitive_variables("code")
def credential_totp_code(request, slug, credential_id):
    try:
        client, credential = _credential(request, slug, credential_id)
        step_up = checkout_views.step_up_response(request, client=client, credential=credential)
        if step_up is not None:
            return step_up
        code = history_services.credential_totp_code(
            actor=request.user, credential=credential, ticket=request.POST.get("ticket", "")
        )
    except KeyholdError as error:
        return _error(request, error.message, error.status)
    except AuditWriteError:
        return _error(request, AUDIT_UNAVAILABLE, 503)
    return render(
        request,
        "vault/history/totp_code.html",
        {"code": code, "show_seconds": TOTP_SHOW_SECONDS},
    )
