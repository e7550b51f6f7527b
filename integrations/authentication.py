"""DRF authentication for API tokens, and for browser sessions that passed MFA.

A token is read from `Authorization: Bearer …` or `x-api-key: …`, never from the query
string (C46). Every refusal gives the same message and leaves an api_token.refused event, up
to API_TOKEN_REFUSALS_PER_ADDRESS from one address; past it, that address gets 429 without
a lookup or an event until the window ends, so a flood of bad tokens cannot flood the log.
"""

import hmac
import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_ratelimit.core import get_usage
from rest_framework import authentication, exceptions

from audit.context import client_ip
from integrations.models import ApiToken
from integrations.services.tokens import api_token_refused
from integrations.tokens import token_hash

REFUSED = "Invalid or expired API token."
LAST_USED_EVERY = timedelta(minutes=1)


class Refusal:
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INACTIVE_CREATOR = "inactive_creator"
    ADDRESS = "address"


@sensitive_variables("presented")
def _presented_token(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    api_key = request.META.get("HTTP_X_API_KEY")
    if api_key is not None:
        return api_key.strip()
    return None


def _address_allowed(token: ApiToken, address: str | None) -> bool:
    if not token.allowed_networks:
        return True
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(
        ip.version == network.version and ip in network
        for network in (ipaddress.ip_network(text, strict=False) for text in token.allowed_networks)
    )


def _refusal(token: ApiToken, address: str | None) -> str | None:
    now = timezone.now()
    if token.revoked_at is not None:
        return Refusal.REVOKED
    if token.expires_at is not None and token.expires_at <= now:
        return Refusal.EXPIRED
    if not token.created_by.is_active:
        return Refusal.INACTIVE_CREATOR
    if not _address_allowed(token, address):
        return Refusal.ADDRESS
    return None


def _note_use(token: ApiToken, address: str | None) -> None:
    """At most one UPDATE a minute per token, so busy integrations do not write every call."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
    ).update(last_used_at=now, last_used_ip=address)
    token.last_used_at, token.last_used_ip = now, address


def _refusals(request, *, increment: bool) -> dict | None:
    address = client_ip(request) or "unknown"
    return get_usage(
        request,
        group="api.refused",
        key=lambda _group, _request: address,
        rate=settings.API_TOKEN_REFUSALS_PER_ADDRESS,
        increment=increment,
    )


def _refuse(request, *, reason: str, token: ApiToken | None = None) -> None:
    usage = _refusals(request, increment=True)
    if usage is None or usage["count"] <= usage["limit"]:
        api_token_refused(reason=reason, token=token)
    elif usage["count"] == usage["limit"] + 1:
        api_token_refused(reason=reason, token=token, address_limited=True)
    raise exceptions.AuthenticationFailed(REFUSED)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Returns (creator, token); request.auth is the ApiToken for scope and client checks."""

    @sensitive_variables("presented")
    def authenticate(self, request):
        presented = _presented_token(request._request)
        if presented is None:
            return None
        usage = _refusals(request._request, increment=False)
        if usage is not None and usage["should_limit"]:
            raise exceptions.Throttled(wait=max(int(usage["time_left"]), 1))
        digest = token_hash(presented)
        # Whether the token is limited to some clients comes with the token; the list is
        # read only for the tokens that have one (every API call authenticates; issue 9).
        limits = ApiToken.clients.through.objects.filter(apitoken_id=OuterRef("pk"))
        token = (
            ApiToken.objects.select_related("created_by")
            .annotate(client_limited=Exists(limits))
            .filter(token_hash=digest)
            .first()
        )
        if token is None or not hmac.compare_digest(token.token_hash, digest):
            _refuse(request._request, reason=Refusal.UNKNOWN)
        address = client_ip(request._request)
        refusal = _refusal(token, address)
        if refusal is not None:
            _refuse(request._request, reason=refusal, token=token)
        _note_use(token, address)
        return token.created_by, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """A browser session counts only once it has passed MFA (CSRF enforced as in DRF).

    The API views skip Django's login and MFA middleware so that token requests reach them;
    this is where a session without MFA is turned away instead.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_verified():
            return None
        return result
