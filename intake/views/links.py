"""Client intake links: the onboarding staff's pages, and the client contact's public page.

The contact's page is public (no account), stands alone (no staff navigation, nothing else of
the MSP), is never cached, indexed or named in a Referer, and is rate-limited per address and
per link. The token leaves the address bar at once: the first GET moves its hash into the
session and redirects to an address without it.
"""

import ipaddress
from contextlib import suppress

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import get_usage

from audit.context import client_ip
from audit.services import AuditWriteError
from config.errors import FieldInvalid, InvalidRequest, NotFound
from config.public_pages import FORM_PAGE_REFERRER_POLICY, public_link_page
from intake.forms.links import (
    MFA_CHOICES,
    SYSTEMS_PREFIX,
    IntakeLinkForm,
    RequestedSystemFormSet,
    StagedAcceptForm,
    StagedRejectForm,
    intake_values_from_post,
    requested_systems_with_another_row,
)
from intake.selectors import links as selectors
from intake.services import links as services
from tenants import selectors as tenant_selectors
from tenants.models import AccessLevel
from vault.envelope import VaultError

# --- Staff side ------------------------------------------------------------------------------


def _client(request, slug):
    return tenant_selectors.client_get_for_user(
        actor=request.user, slug=slug, level=AccessLevel.MANAGE
    )


def _link_form_errors(form, systems, error: InvalidRequest) -> None:
    if isinstance(error, FieldInvalid) and error.field in form.fields:
        form.add_error(error.field, error.message)
    elif isinstance(error, FieldInvalid) and error.field == "systems":
        # A formset has no add_error(); once cleaned, its own errors live here.
        systems._non_form_errors = systems.error_class([error.message])
    else:
        form.add_error(None, error.message)


@never_cache
@sensitive_variables("token", "new_link")
def intake_link_list(request, slug):
    """The client's intake links and the form that creates one (its link is shown once)."""
    client = _client(request, slug)
    form = IntakeLinkForm()
    systems = RequestedSystemFormSet(prefix=SYSTEMS_PREFIX)
    new_link = ""
    status = 200
    if request.method == "POST" and "add_system" in request.POST:
        form = IntakeLinkForm(initial={name: request.POST.get(name, "") for name in form.fields})
        systems = RequestedSystemFormSet(
            requested_systems_with_another_row(request.POST), prefix=SYSTEMS_PREFIX
        )
    elif request.method == "POST":
        form = IntakeLinkForm(request.POST)
        systems = RequestedSystemFormSet(request.POST, prefix=SYSTEMS_PREFIX)
        status = 400
        if form.is_valid() and systems.is_valid():
            try:
                _, token = services.intake_link_create(
                    actor=request.user,
                    client=client,
                    requests=systems.requested(),
                    **form.cleaned_data,
                )
            except NotFound:
                raise
            except InvalidRequest as error:
                _link_form_errors(form, systems, error)
            else:
                new_link = request.build_absolute_uri(reverse("intake:link_landing", args=[token]))
                form = IntakeLinkForm()
                systems = RequestedSystemFormSet(prefix=SYSTEMS_PREFIX)
                status = 200
    return render(
        request,
        "intake/link_list.html",
        {
            "client": client,
            "links": selectors.intake_link_list_for_client(actor=request.user, client=client),
            "form": form,
            "systems": systems,
            "new_link": new_link,
        },
        status=status,
    )


def _system_choices(request, client) -> list[tuple[str, str]]:
    return [
        (str(system.pk), system.name)
        for system in tenant_selectors.system_list_for_client(actor=request.user, client=client)
        if system.status == system.Status.ACTIVE
    ]


def _accept_form(entry, systems, data=None) -> StagedAcceptForm:
    prefix = f"entry-{entry.pk}"
    same_name = [pk for pk, name in systems if name.casefold() == entry.system_name.casefold()]
    initial = {
        "name": entry.system_name,
        "credential_type": (entry.request.credential_type if entry.request else "") or "other",
        "system": same_name[0] if same_name else "",
        "host": entry.url,
    }
    return StagedAcceptForm(
        data, initial=initial, systems=systems, prefix=prefix, auto_id=f"{prefix}-accept-%s"
    )


def _reject_form(entry, data=None) -> StagedRejectForm:
    prefix = f"entry-{entry.pk}"
    return StagedRejectForm(data, prefix=prefix, auto_id=f"{prefix}-reject-%s")


def _detail(request, client, link, *, bound: dict | None = None, error="", status=200):
    """The link's page; `bound` holds the accept or reject form that failed, by entry id."""
    bound = bound or {}
    systems = _system_choices(request, client)
    entries = []
    for entry in selectors.staged_credential_list_for_link(actor=request.user, link=link):
        failed = bound.get(str(entry.pk), {})
        entries.append(
            {
                "entry": entry,
                "accept": failed.get("accept") or _accept_form(entry, systems),
                "reject": failed.get("reject") or _reject_form(entry),
            }
        )
    return render(
        request,
        "intake/link_detail.html",
        {
            "client": client,
            "link": link,
            "requests": selectors.intake_link_request_list(actor=request.user, link=link),
            "entries": entries,
            "error": error,
        },
        status=status,
    )


def _link(request, slug, link_id):
    client = _client(request, slug)
    return client, selectors.intake_link_get_for_user(
        actor=request.user, client=client, link_id=link_id
    )


@never_cache
def intake_link_detail(request, slug, link_id):
    """What the contact asked for and sent; each entry accepted into the vault or rejected."""
    client, link = _link(request, slug, link_id)
    return _detail(request, client, link)


@never_cache
@require_POST
def intake_link_revoke(request, slug, link_id):
    client, link = _link(request, slug, link_id)
    try:
        services.intake_link_revoke(actor=request.user, link=link)
    except NotFound:
        raise
    except InvalidRequest as error:
        return _detail(request, client, link, error=error.message, status=error.status)
    messages.success(request, f"The intake link for {link.contact_name} was revoked.")
    return redirect("intake:link_detail", slug=client.slug, link_id=link.pk)


@never_cache
@require_POST
def staged_credential_accept(request, slug, link_id, staged_id):
    client, link = _link(request, slug, link_id)
    entry = selectors.staged_credential_get_for_user(
        actor=request.user, link=link, staged_id=staged_id
    )
    form = _accept_form(entry, _system_choices(request, client), request.POST)
    if form.is_valid():
        system = None
        if form.cleaned_data["system"]:
            system = tenant_selectors.system_get_for_user(
                actor=request.user, client=client, system_id=form.cleaned_data["system"]
            )
        try:
            credential = services.staged_credential_accept(
                actor=request.user,
                staged=entry,
                name=form.cleaned_data["name"],
                credential_type=form.cleaned_data["credential_type"],
                system=system,
                host=form.cleaned_data["host"],
            )
        except NotFound:
            raise
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{credential.name} is in the vault now.")
            return redirect("intake:link_detail", slug=client.slug, link_id=link.pk)
    return _detail(request, client, link, bound={str(entry.pk): {"accept": form}}, status=400)


@never_cache
@require_POST
def staged_credential_reject(request, slug, link_id, staged_id):
    client, link = _link(request, slug, link_id)
    entry = selectors.staged_credential_get_for_user(
        actor=request.user, link=link, staged_id=staged_id
    )
    form = _reject_form(entry, request.POST)
    if form.is_valid():
        try:
            services.staged_credential_reject(
                actor=request.user, staged=entry, reason=form.cleaned_data["reason"]
            )
        except NotFound:
            raise
        except InvalidRequest as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request, f"The entry for {entry.system_name} was rejected and its values wiped."
            )
            return redirect("intake:link_detail", slug=client.slug, link_id=link.pk)
    return _detail(request, client, link, bound={str(entry.pk): {"reject": form}}, status=400)


# --- The client contact's side -----------------------------------------------------------------

INTAKE_LINK_SESSION = "keyhold_intake_link"
TOKEN_MAX = 200
UNAVAILABLE = (
    "Your values could not be received right now. Nothing was saved and the link still "
    "works; try again in a few minutes."
)


def _address_key(request) -> str:
    """The client's address (behind the trusted proxies); an IPv6 client's /64 network."""
    address = client_ip(request)
    if not address:
        return "unknown"
    if ipaddress.ip_address(address).version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return address


def _too_many(request, token_hash: str):
    """A 429 page when this address or this link went over its rate, else None.

    Every request counts, GET and POST. Only the first refusal of each window is audited,
    so a flood cannot flood the audit chain as well.
    """
    limits = [
        (
            "address",
            settings.INTAKE_LINK_RATE_PER_ADDRESS,
            _address_key(request),
        )
    ]
    if token_hash:
        limits.append(
            (
                "link",
                settings.INTAKE_LINK_RATE_PER_LINK,
                token_hash,
            )
        )
    for scope, rate, value in limits:
        usage = get_usage(
            request,
            group=f"intake_link.{scope}",
            key=lambda _group, _request, value=value: value,
            rate=rate,
            increment=True,
        )
        if usage is None or not usage["should_limit"]:
            continue
        if usage["count"] == usage["limit"] + 1:
            # The page is refused whether or not the event could be written.
            with suppress(AuditWriteError):
                services.intake_link_rate_limited(actor=None, token_hash=token_hash, scope=scope)
        response = render(request, "intake/link_public_limited.html", status=429)
        response["Retry-After"] = str(max(int(usage["time_left"]), 1))
        return response
    return None


def _gone(request):
    request.session.pop(INTAKE_LINK_SESSION, None)
    return render(request, "intake/link_public_gone.html", status=410)


def _unavailable(request):
    return render(
        request, "intake/link_public_unavailable.html", {"message": UNAVAILABLE}, status=503
    )


def _form_page(request, page, *, values=None, errors=None, status=200):
    """The contact's form; what was typed comes back except passwords, notes and keys."""
    values = values or {}
    errors = errors or {}
    systems = []
    for system in page.systems:
        typed = values.get(system.id, {})
        systems.append(
            {
                "system": system,
                "prefix": f"system-{system.id}",
                "username": typed.get("username", ""),
                "url": typed.get("url", ""),
                "mfa_on_path": typed.get("mfa_on_path", MFA_CHOICES[0][0]),
                "errors": errors.get(system.id, {}),
            }
        )
    response = render(
        request,
        "intake/link_public_form.html",
        {
            "page": page,
            "msp_name": settings.KEYHOLD_MSP_NAME,
            "systems": systems,
            "mfa_choices": MFA_CHOICES,
            "form_error": errors.get("", {}).get(""),
            "retyping": bool(errors),
        },
        status=status,
    )
    response["Referrer-Policy"] = FORM_PAGE_REFERRER_POLICY
    return response


@public_link_page
@require_http_methods(["GET"])
@sensitive_variables("token")
def intake_link_landing(request, token: str):
    """Move the token from the link into the session (as its hash): out of the address bar."""
    token_hash = services.intake_token_hash(token=token[:TOKEN_MAX])
    limited = _too_many(request, token_hash)
    if limited is not None:
        return limited
    request.session[INTAKE_LINK_SESSION] = token_hash
    return redirect("intake:link_page")


@public_link_page
@require_http_methods(["GET", "POST"])
@sensitive_post_parameters()
@sensitive_variables("values")
def intake_link_page(request):
    """GET: the form, consuming nothing. POST: the one submission, sealed on arrival."""
    token_hash = request.session.get(INTAKE_LINK_SESSION, "")
    limited = _too_many(request, token_hash)
    if limited is not None:
        return limited
    if request.method == "GET":
        try:
            page = services.intake_link_open(actor=None, token_hash=token_hash)
        except services.IntakeLinkGone:
            return _gone(request)
        except (VaultError, AuditWriteError):
            return _unavailable(request)
        return _form_page(request, page)
    values = intake_values_from_post(request.POST)
    try:
        staged = services.intake_link_submit(
            actor=None, token_hash=token_hash, values=values, client_ip=client_ip(request)
        )
    except services.IntakeLinkGone:
        return _gone(request)
    except services.SubmissionInvalid as error:
        return _form_page(
            request, error.page, values=values, errors=error.errors, status=error.status
        )
    except (VaultError, AuditWriteError):
        return _unavailable(request)
    request.session.pop(INTAKE_LINK_SESSION, None)
    return render(
        request,
        "intake/link_public_thanks.html",
        {
            "count": len(staged),
            "msp_name": settings.KEYHOLD_MSP_NAME,
        },
    )
