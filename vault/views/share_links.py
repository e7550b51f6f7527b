"""One-time share links: the staff panel on a credential, and the client contact's pages.

The contact's pages are public (no account), stand alone (no staff navigation, nothing else
of the MSP), and are never cached, indexed or named in a Referer.
"""

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import AuditWriteError
from config.errors import KeyholdError, NotFound
from config.public_pages import FORM_PAGE_REFERRER_POLICY, public_link_page
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import selectors
from vault.envelope import VaultError
from vault.forms import ShareLinkForm
from vault.selectors import share_links as share_selectors
from vault.services import share_links as share_services

# --- Staff side ------------------------------------------------------------------------------


def _credential(request, slug, credential_id):
    client = tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.VIEW
    )
    return selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW, client=client
    )


def _panel(request, credential, *, form=None, new_link="", error="", status=200):
    shareable = (
        credential.privilege_tier != "high"
        and not credential.is_emergency
        and credential.status != credential.Status.ARCHIVED
    )
    return render(
        request,
        "vault/share_links/panel.html",
        {
            "client": credential.client,
            "credential": credential,
            "links": share_selectors.share_link_list_for_credential(
                actor=request.user, credential=credential
            ),
            "form": form or ShareLinkForm(),
            "shareable": shareable,
            "can_share": shareable and credential.my_level >= AccessLevel.USE,
            "can_manage": credential.my_level >= AccessLevel.MANAGE,
            "not_shareable": share_services.NOT_SHAREABLE,
            "new_link": new_link,
            "error": error,
        },
        status=status,
    )


@never_cache
def share_link_panel(request, slug, credential_id):
    """The share panel of a credential's page (an htmx fragment)."""
    return _panel(request, _credential(request, slug, credential_id))


@never_cache
@require_POST
@sensitive_post_parameters("passphrase")
@sensitive_variables("token", "new_link")
def share_link_create(request, slug, credential_id):
    credential = _credential(request, slug, credential_id)
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        return _panel(request, credential, form=form, status=400)
    try:
        _, token = share_services.share_link_create(
            actor=request.user, credential=credential, **form.cleaned_data
        )
    except NotFound:
        raise
    except KeyholdError as error:
        return _panel(request, credential, form=form, error=error.message, status=error.status)
    new_link = request.build_absolute_uri(reverse("share_link_landing", args=[token]))
    return _panel(request, credential, new_link=new_link)


@never_cache
@require_POST
def share_link_revoke(request, slug, credential_id, link_id):
    credential = _credential(request, slug, credential_id)
    link = share_selectors.share_link_get_for_user(
        actor=request.user, link_id=link_id, credential=credential
    )
    try:
        share_services.share_link_revoke(actor=request.user, link=link)
    except NotFound:
        raise
    except KeyholdError as error:
        return _panel(request, credential, error=error.message, status=error.status)
    return _panel(request, credential)


# --- The client contact's side -----------------------------------------------------------------

SHARE_LINK_SESSION = "keyhold_share_link"
TOKEN_MAX = 200
UNAVAILABLE = (
    "The secret cannot be shown right now. Nothing was used up; try again in a few minutes."
)


def _form_page(request, context, status=200):
    response = render(request, "vault/share_links/public_landing.html", context, status=status)
    response["Referrer-Policy"] = FORM_PAGE_REFERRER_POLICY
    return response


def _gone(request):
    request.session.pop(SHARE_LINK_SESSION, None)
    return render(request, "vault/share_links/public_gone.html", status=410)


def _unavailable(request):
    return render(
        request, "vault/share_links/public_unavailable.html", {"message": UNAVAILABLE}, status=503
    )


@public_link_page
@require_http_methods(["GET"])
@sensitive_variables("token")
def share_link_landing(request, token: str):
    """Move the token from the link into the session (as its hash): out of the address bar."""
    request.session[SHARE_LINK_SESSION] = share_services.share_token_hash(token=token[:TOKEN_MAX])
    return redirect("share_link_page")


@public_link_page
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("passphrase")
@sensitive_variables("shared", "passphrase")
def share_link_page(request):
    """GET: the page with Reveal, consuming nothing. POST: Reveal (one view)."""
    token_hash = request.session.get(SHARE_LINK_SESSION, "")
    if not token_hash:
        return _gone(request)
    try:
        if request.method == "POST":
            shared = share_services.share_link_reveal(
                actor=None, token_hash=token_hash, passphrase=request.POST.get("passphrase", "")
            )
        else:
            landing = share_services.share_link_open(actor=None, token_hash=token_hash)
    except share_services.ShareLinkGone:
        return _gone(request)
    except share_services.PassphraseRefused as error:
        return _form_page(
            request, {"passphrase_required": True, "error": error.message}, status=error.status
        )
    except (VaultError, AuditWriteError):
        return _unavailable(request)
    if request.method == "GET":
        return _form_page(
            request,
            {"passphrase_required": landing.passphrase_required, "expires_at": landing.expires_at},
        )
    if shared.views_left == 0:
        request.session.pop(SHARE_LINK_SESSION, None)
    return render(request, "vault/share_links/public_revealed.html", {"shared": shared})
