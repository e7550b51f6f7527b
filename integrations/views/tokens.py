"""Administrators' API token pages: the list, creation (the token shown once) and revocation.

The token's plaintext exists only in the response to the creating POST: never stored, never
in a URL, a message or a log, and the page is not cached.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods

from accounts.models import Role
from accounts.services import require_role
from config.errors import FieldInvalid, InvalidRequest, NotFound
from integrations import selectors
from integrations.forms.tokens import ApiTokenForm, ApiTokenRevokeForm
from integrations.services import tokens as services
from tenants.selectors import client_list_for_user

# The service's field names, as the form names them.
_FORM_FIELDS = {"expires_at": "expires_on"}


@require_http_methods(["GET"])
def api_token_list(request):
    return render(
        request,
        "integrations/api_token_list.html",
        {"rows": selectors.api_token_list(actor=request.user)},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_variables("plaintext")
def api_token_create(request):
    """GET: the form. POST: create the token and show it, this once."""
    require_role(request.user, Role.ADMINISTRATOR, action="create API tokens")
    form = ApiTokenForm(request.POST or None, clients=client_list_for_user(actor=request.user))
    if request.method == "POST" and form.is_valid():
        try:
            token, plaintext = services.api_token_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                clients=form.cleaned_data["clients"],
                expires_at=form.expires_at(),
                allowed_networks=form.networks(),
            )
        except FieldInvalid as error:
            form.add_error(_FORM_FIELDS.get(error.field, error.field), error.message)
        except NotFound as error:
            form.add_error("clients", error.message)
        else:
            row = selectors.api_token_get(actor=request.user, token_id=token.pk)
            return render(
                request, "integrations/api_token_created.html", {"row": row, "plaintext": plaintext}
            )
    status = 400 if request.method == "POST" else 200
    return render(request, "integrations/api_token_form.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def api_token_revoke(request, token_id):
    """GET: confirm with a reason. POST: revoke at once; the next call with it gets 401."""
    row = selectors.api_token_get(actor=request.user, token_id=token_id)
    form = ApiTokenRevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.api_token_revoke(
                actor=request.user, token=row.token, reason=form.cleaned_data["reason"]
            )
        except FieldInvalid as error:
            form.add_error(error.field, error.message)
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request, f"{row.token.name} ({row.token.prefix}…) is revoked; it no longer works."
            )
            return redirect("integrations:api_token_list")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "integrations/api_token_revoke.html", {"row": row, "form": form}, status=status
    )
