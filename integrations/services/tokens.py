"""Writes for API tokens: creation by administrators, revocation, and revocation on departure.

A token is shown once: only its SHA-256 is stored, with a short prefix for display. Each
public function is one transaction and leaves one audit event, never holding the token.
"""

import ipaddress
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Role, User
from accounts.services import alert_send, require_role
from audit import services as audit
from audit.models import ActorKind, Outcome
from audit.services import Attempt, Target, recording_failures
from config.errors import FieldInvalid, InvalidRequest, NotFound
from integrations.models import ApiScope, ApiToken
from integrations.tokens import token_hash
from tenants.models import AccessLevel, Client

TOKEN_PREFIX = "kh_"  # noqa: S105  (a marker that makes leaked tokens findable, not a secret)
PREFIX_LENGTH = 10
NAME_MAX = 100
REASON_MAX = 500
OFFBOARDING_REASON = "Its creator left or was deactivated."


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted({scope.strip() for scope in scopes if scope.strip()})
    if not chosen:
        raise FieldInvalid("scopes", "Choose at least one scope.")
    unknown = [scope for scope in chosen if scope not in ApiScope.values]
    if unknown:
        raise FieldInvalid("scopes", f"Unknown scope: {', '.join(unknown)}.")
    return chosen


def _clean_networks(networks: Iterable[str]) -> list[str]:
    cleaned = []
    for network in networks:
        text = network.strip()
        if not text:
            continue
        try:
            cleaned.append(ipaddress.ip_network(text, strict=False).compressed)
        except ValueError:
            raise FieldInvalid(
                "allowed_networks",
                f"{text[:60]!r} is not an address or network (such as 203.0.113.0/24).",
            ) from None
    return sorted(set(cleaned))


def _latest_expiry(now: datetime) -> datetime:
    """The end of the day API_TOKEN_MAX_DAYS from now (UTC): a date picked as "through that
    day" at the limit is still accepted."""
    last_day = (now + timedelta(days=settings.API_TOKEN_MAX_DAYS)).astimezone(UTC).date()
    return datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC)


def _clean_expiry(expires_at: datetime | None) -> datetime:
    """Every token expires (C50), in the future and at most API_TOKEN_MAX_DAYS from now."""
    if expires_at is None:
        raise FieldInvalid("expires_at", "Choose when the token expires; every token must.")
    now = timezone.now()
    if expires_at <= now:
        raise FieldInvalid("expires_at", "The expiry must be in the future.")
    if expires_at > _latest_expiry(now):
        raise FieldInvalid(
            "expires_at",
            f"A token may live at most {settings.API_TOKEN_MAX_DAYS} days; "
            "choose an earlier expiry.",
        )
    return expires_at


def _clean_clients(actor: User, clients: Iterable[Client]) -> list[Client]:
    """Only clients the administrator can see: a token never reaches beyond its creator."""
    wanted = {client.pk for client in clients}
    visible = list(Client.objects.for_user(actor, AccessLevel.VIEW).filter(pk__in=wanted))
    if len({client.pk for client in visible}) != len(wanted):
        raise NotFound("One of those clients does not exist or you cannot see it.")
    return visible


@sensitive_variables("plaintext")
def api_token_create(
    *,
    actor: User,
    name: str,
    scopes: Iterable[str],
    clients: Iterable[Client] = (),
    expires_at: datetime | None,
    allowed_networks: Iterable[str] = (),
) -> tuple[ApiToken, str]:
    """Create a token for one integration; returns it with its plaintext, shown once.

    `expires_at` is required (None is refused in plain words rather than by Python, so a
    form left blank says what to do) and at most API_TOKEN_MAX_DAYS away.
    """
    name = name.strip()
    with recording_failures(Attempt(actor=actor, action="api_token.created")):
        require_role(actor, Role.ADMINISTRATOR, action="create API tokens")
        if not name:
            raise FieldInvalid("name", "Give the token a name, such as the integration's.")
        if len(name) > NAME_MAX:
            raise FieldInvalid("name", f"Keep the name under {NAME_MAX} characters.")
        chosen_scopes = _clean_scopes(scopes)
        networks = _clean_networks(allowed_networks)
        expires_at = _clean_expiry(expires_at)
        limited_to = _clean_clients(actor, clients)
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with transaction.atomic():
            token = ApiToken.objects.create(
                name=name,
                prefix=plaintext[:PREFIX_LENGTH],
                token_hash=token_hash(plaintext),
                created_by=actor,
                scopes=chosen_scopes,
                expires_at=expires_at,
                allowed_networks=networks,
            )
            token.clients.set(limited_to)
            audit.record(
                actor=actor,
                action="api_token.created",
                target=Target.of(token),
                details={
                    "name": name,
                    "prefix": token.prefix,
                    "scopes": chosen_scopes,
                    "clients": len(limited_to),
                    "networks": len(networks),
                    "expires_at": expires_at.isoformat(),
                },
            )
    return token, plaintext


def api_token_revoke(*, actor: User | None, token: ApiToken, reason: str) -> ApiToken:
    """Revoke a token at once; actor None is the system's own revocation."""
    reason = reason.strip()
    target = Target.of(token)
    with recording_failures(Attempt(actor=actor, action="api_token.revoked", target=target)):
        if actor is not None:
            require_role(actor, Role.ADMINISTRATOR, action="revoke API tokens")
        if not reason:
            raise FieldInvalid("reason", "Say why the token is revoked.")
        if len(reason) > REASON_MAX:
            raise FieldInvalid("reason", f"Keep the reason under {REASON_MAX} characters.")
        now = timezone.now()
        with transaction.atomic():
            revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
                revoked_at=now, revoked_by=actor, revoke_reason=reason
            )
            if not revoked:
                raise InvalidRequest("This token is already revoked.")
            audit.record(
                actor=actor,
                action="api_token.revoked",
                target=target,
                reason=reason,
                details={"prefix": token.prefix, "count": 1},
            )
    token.refresh_from_db()
    return token


def api_tokens_revoke_for_user(*, user_id: int) -> int:
    """Revoke every live token a departing or deactivated person created; returns how many."""
    with transaction.atomic():
        tokens = ApiToken.objects.select_for_update().filter(
            created_by_id=user_id, revoked_at__isnull=True
        )
        prefixes = sorted(tokens.values_list("prefix", flat=True))
        if not prefixes:
            return 0
        count = tokens.update(
            revoked_at=timezone.now(), revoked_by=None, revoke_reason=OFFBOARDING_REASON
        )
        user = User.objects.get(pk=user_id)
        audit.record(
            actor=None,
            actor_label="offboarding",
            action="api_token.revoked",
            target=Target.of(user),
            reason=OFFBOARDING_REASON,
            details={"count": count, "prefixes": prefixes},
        )
    return count


def api_token_refused(
    *, reason: str, token: ApiToken | None = None, address_limited: bool = False
) -> None:
    """Record a refused API request (the reason code and the token's prefix, never the token).

    `address_limited` marks the last event of a flood: the address is refused without
    events until its window ends (ApiTokenAuthentication).
    """
    with transaction.atomic():
        audit.record(
            actor=None,
            actor_kind=ActorKind.TOKEN if token is not None else ActorKind.ANONYMOUS,
            actor_label=f"API token {token.prefix}…" if token is not None else "API request",
            action="api_token.refused",
            outcome=Outcome.DENIED,
            target=Target.of(token) if token is not None else None,
            reason=reason,
            details={
                "code": reason,
                "prefix": token.prefix if token is not None else "",
                "address_limited": address_limited,
            },
        )


def api_token_scope_refused(*, token: ApiToken, scope: str, method: str, path: str) -> None:
    """Record a token turned away for lacking the scope an endpoint needs (a reveal too)."""
    with transaction.atomic():
        audit.record(
            actor=token.created_by,
            action="api_token.scope_refused",
            outcome=Outcome.DENIED,
            target=Target.of(token),
            reason=f"missing scope {scope}" if scope else "not open to API tokens",
            details={"scope": scope, "method": method, "path": path[:300], "prefix": token.prefix},
        )


def api_rate_limited(*, actor: User, token: ApiToken | None, limit: str, rate: str) -> None:
    """Record the first refused call of a window and alert administrators: many calls, or
    many reveals, in a short time are how a stolen token empties a vault."""
    who = f"API token {token.name} ({token.prefix}…)" if token is not None else actor.email
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="api.rate_limited",
            outcome=Outcome.DENIED,
            target=Target.of(token) if token is not None else Target.of(actor),
            reason=f"over the {limit} limit of {rate}",
            details={"limit": limit, "rate": rate},
        )
        alert_send(
            actor=None,
            topic="api.rate_limited",
            recipients=User.objects.filter(
                groups__name=Role.ADMINISTRATOR, is_active=True
            ).distinct(),
            subject=f"Keyhold: {who} hit the {limit} rate limit",
            body=(
                f"{who} went over the {limit} limit of {rate} and is refused until the window "
                "ends. If this integration should not be this busy, revoke the token."
            ),
        )
