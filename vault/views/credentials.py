from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from audit.services import AuditWriteError
from config.errors import InvalidRequest, KeyholdError
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault import selectors, services
from vault.forms import ArchiveForm, CredentialEditForm, CredentialForm
from vault.selectors.policies import vault_policy_for
from vault.views import checkouts as checkout_views

CREDENTIALS_PER_PAGE = 50
REVEAL_SECONDS = 30


def _client(request, slug, level=AccessLevel.VIEW):
    return tenant_selectors.client_get_for_user(actor=request.user, slug=slug, level=level)


def _list_filters(request) -> dict:
    return {
        "search": request.GET.get("q", "").strip()[:200],
        "tag": request.GET.get("tag", "").strip().lower()[:50],
    }


def credential_list(request, slug):
    client = _client(request, slug)
    filters = _list_filters(request)
    archived = request.GET.get("archived") == "1"
    credentials = selectors.credential_list_for_user(
        actor=request.user, client=client, include_archived=archived, **filters
    )
    page = Paginator(credentials, CREDENTIALS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "vault/credential_list.html",
        {
            "client": client,
            "page": page,
            "archived": archived,
            "can_manage": client.my_level >= AccessLevel.MANAGE,
            **filters,
        },
    )


SEARCH_LIMIT = 50


def search(request):
    """The search box of every page: clients, systems and credentials the user may see."""
    query = request.GET.get("q", "").strip()[:200]
    results = tenant_selectors.search_for_user(actor=request.user, query=query, limit=SEARCH_LIMIT)
    credentials = (
        selectors.credential_list_for_user(actor=request.user, search=query)[:SEARCH_LIMIT]
        if query
        else []
    )
    return render(
        request,
        "vault/search.html",
        {"query": query, "results": results, "credentials": credentials},
    )


def credential_search(request):
    filters = _list_filters(request)
    credentials = selectors.credential_list_for_user(actor=request.user, **filters)
    page = Paginator(credentials, CREDENTIALS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "vault/credential_search.html", {"page": page, **filters})


@sensitive_post_parameters("secret", "notes", "totp_seed")
def credential_create(request, slug):
    client = _client(request, slug)
    if request.method != "POST" and client.my_level < AccessLevel.MANAGE:
        _client(request, slug, AccessLevel.MANAGE)  # raises AccessDenied in the MSP's words
    systems = tenant_selectors.system_list_for_client(actor=request.user, client=client)
    form = CredentialForm(request.POST or None, systems=systems)
    if request.method == "POST":
        if form.is_valid():
            try:
                credential = services.credential_create(
                    actor=request.user,
                    client=client,
                    secret=form.chosen_secret(),
                    notes=form.cleaned_data.get("notes", ""),
                    totp_seed=form.cleaned_data.get("totp_seed", ""),
                    **form.metadata(),
                )
            except InvalidRequest as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"{credential.name} was added to {client.name}.")
                return redirect(
                    "vault:credential_detail", slug=client.slug, credential_id=credential.pk
                )
        elif client.my_level < AccessLevel.MANAGE:
            _client(request, slug, AccessLevel.MANAGE)
    return render(request, "vault/credential_form.html", {"client": client, "form": form})


def credential_detail(request, slug, credential_id):
    client = _client(request, slug)
    credential = selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW, client=client
    )
    policy = vault_policy_for(actor=request.user, client=client)
    return render(
        request,
        "vault/credential_detail.html",
        {
            **checkout_views.checkout_panel_context(
                request, client=client, credential=credential, policy=policy
            ),
            "client": client,
            "credential": credential,
            "can_manage": credential.my_level >= AccessLevel.MANAGE
            and credential.status != credential.Status.ARCHIVED,
            "archive_form": ArchiveForm(),
            "can_reveal": credential.my_level >= AccessLevel.USE
            and credential.status != credential.Status.ARCHIVED,
            "ticket_required": policy.reveal_ticket_required,
        },
    )


@sensitive_post_parameters("secret", "notes", "totp_seed")
def credential_edit(request, slug, credential_id):
    client = _client(request, slug)
    if request.method != "POST" and client.my_level < AccessLevel.MANAGE:
        _client(request, slug, AccessLevel.MANAGE)
    credential = selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW, client=client
    )
    systems = tenant_selectors.system_list_for_client(actor=request.user, client=client)
    form = CredentialEditForm(request.POST or None, systems=systems, credential=credential)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.credential_update(
                    actor=request.user,
                    credential=credential,
                    status=form.cleaned_data["status"],
                    reason=form.cleaned_data.get("reason", ""),
                    **form.sealed_changes(),
                    **form.metadata(),
                )
            except InvalidRequest as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"{credential.name} was saved.")
                return redirect(
                    "vault:credential_detail", slug=client.slug, credential_id=credential.pk
                )
        elif client.my_level < AccessLevel.MANAGE:
            _client(request, slug, AccessLevel.MANAGE)
    return render(
        request,
        "vault/credential_form.html",
        {"client": client, "credential": credential, "form": form},
    )


@require_POST
def credential_archive(request, slug, credential_id):
    client = _client(request, slug)
    credential = selectors.credential_get_for_user(
        actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW, client=client
    )
    form = ArchiveForm(request.POST)
    if form.is_valid():
        try:
            services.credential_archive(
                actor=request.user, credential=credential, reason=form.cleaned_data["reason"]
            )
        except InvalidRequest as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{credential.name} was archived.")
    else:
        if client.my_level < AccessLevel.MANAGE:
            _client(request, slug, AccessLevel.MANAGE)
        messages.error(request, "Say why this credential is being archived.")
    return redirect("vault:credential_detail", slug=client.slug, credential_id=credential.pk)


AUDIT_UNAVAILABLE = (
    "Keyhold could not record this reveal in the audit log, so the secret was not shown. "
    "Try again in a moment; if it keeps failing, tell an administrator."
)


@never_cache
@require_POST
@sensitive_variables("secret")
def credential_reveal(request, slug, credential_id):
    """An htmx fragment: the secret as text (purpose=reveal) or for the clipboard (copy).

    Errors are fragments too, with the error's status (keyhold.js lets htmx swap them in).
    """
    purpose = "copy" if request.POST.get("purpose") == "copy" else "reveal"
    try:
        client = _client(request, slug)
        credential = selectors.credential_get_to_open(
            actor=request.user, credential_id=credential_id, level=AccessLevel.VIEW, client=client
        )
        step_up = checkout_views.step_up_response(request, client=client, credential=credential)
        if step_up is not None:
            return step_up
        secret = services.credential_reveal(
            actor=request.user,
            credential=credential,
            ticket=request.POST.get("ticket", ""),
            purpose=purpose,
        )
    except KeyholdError as error:
        return render(
            request,
            "vault/partials/reveal_error.html",
            {"message": error.message},
            status=error.status,
        )
    except AuditWriteError:
        return render(
            request,
            "vault/partials/reveal_error.html",
            {"message": AUDIT_UNAVAILABLE},
            status=503,
        )
    return render(
        request,
        "vault/partials/revealed_secret.html",
        {"secret": secret, "purpose": purpose, "seconds": REVEAL_SECONDS},
    )
