"""Reads for the integrations pages, for administrators only.

API tokens are listed for every administrator (any of them may need to revoke a leaked
one), but a token's clients are named only where the reader may see them: the rest are
counted, never named.
"""

import uuid
from dataclasses import dataclass
from typing import Literal

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import require_role
from config.errors import NotFound
from integrations.models import ApiScope, ApiToken, WebhookDelivery, WebhookSubscription
from tenants.models import AccessLevel, Client

TokenStatus = Literal["live", "expired", "revoked"]
_SCOPE_LABELS = dict(ApiScope.choices)


@dataclass(frozen=True)
class ApiTokenRow:
    """A token as the list page shows it: never its hash, only its prefix."""

    token: ApiToken
    status: TokenStatus
    clients: list[Client]
    hidden_clients: int

    @property
    def scope_labels(self) -> list[tuple[str, str]]:
        return [(scope, _SCOPE_LABELS.get(scope, scope)) for scope in self.token.scopes]

    @property
    def all_clients(self) -> bool:
        return not self.clients and not self.hidden_clients


def _status(token: ApiToken, now) -> TokenStatus:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "live"


def _tokens(actor: User) -> QuerySet[ApiToken]:
    require_role(actor, Role.ADMINISTRATOR, action="manage API tokens")
    visible = Client.objects.for_user(actor, AccessLevel.VIEW).order_by("name")
    return (
        ApiToken.objects.defer("token_hash")
        .select_related("created_by", "revoked_by")
        .annotate(client_count=Count("clients", distinct=True))
        .prefetch_related(Prefetch("clients", queryset=visible, to_attr="visible_clients"))
    )


def _row(token: ApiToken, now) -> ApiTokenRow:
    return ApiTokenRow(
        token=token,
        status=_status(token, now),
        clients=token.visible_clients,
        hidden_clients=token.client_count - len(token.visible_clients),
    )


def api_token_list(*, actor: User) -> list[ApiTokenRow]:
    """Every administrator's tokens, newest first, in a constant number of queries."""
    now = timezone.now()
    return [_row(token, now) for token in _tokens(actor).order_by("-created_at")]


def api_token_get(*, actor: User, token_id: uuid.UUID | str) -> ApiTokenRow:
    """One token for the revoke page; NotFound when there is none with that id."""
    token = _tokens(actor).filter(pk=token_id).first()
    if token is None:
        raise NotFound()
    return _row(token, timezone.now())


# --- Outbound webhooks (integrations.services.webhooks) ------------------------------------


def webhook_subscription_list(*, actor: User) -> list[WebhookSubscription]:
    """Every subscription with its latest delivery's state, in a constant number of queries."""
    require_role(actor, Role.ADMINISTRATOR, action="see webhooks")
    latest = WebhookDelivery.objects.filter(subscription=OuterRef("pk")).order_by("-created_at")
    return list(
        WebhookSubscription.objects.defer("sealed_secret")
        .select_related("owner")
        .annotate(
            client_count=Count("clients", distinct=True),
            last_status=Subquery(latest.values("status")[:1]),
            last_delivery_at=Subquery(latest.values("created_at")[:1]),
            last_error=Subquery(latest.values("last_error")[:1]),
        )
        .order_by("name", "created_at")
    )


def webhook_subscription_get(
    *, actor: User, subscription_id: uuid.UUID | str
) -> WebhookSubscription:
    """One subscription for its pages; NotFound when there is none with that id."""
    require_role(actor, Role.ADMINISTRATOR, action="see webhooks")
    visible = Client.objects.for_user(actor, AccessLevel.VIEW).order_by("name")
    subscription = (
        WebhookSubscription.objects.defer("sealed_secret")
        .select_related("owner", "created_by")
        .annotate(client_count=Count("clients", distinct=True))
        .prefetch_related(Prefetch("clients", queryset=visible, to_attr="visible_clients"))
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None:
        raise NotFound()
    return subscription


def webhook_delivery_list(
    *, actor: User, subscription: WebhookSubscription
) -> QuerySet[WebhookDelivery]:
    """A subscription's delivery log, newest first: deliveries of clients the administrator
    can see and those without a client; `subscription` comes from webhook_subscription_get."""
    require_role(actor, Role.ADMINISTRATOR, action="see webhook deliveries")
    return WebhookDelivery.objects.filter(
        Q(client__isnull=True) | Q(client__in=Client.objects.for_user(actor, AccessLevel.VIEW)),
        subscription=subscription,
    ).order_by("-created_at", "-audit_sequence")


def webhook_delivery_get(
    *, actor: User, subscription: WebhookSubscription, delivery_id: uuid.UUID | str
) -> WebhookDelivery:
    """One delivery of the subscription the administrator may see; NotFound otherwise."""
    delivery = (
        webhook_delivery_list(actor=actor, subscription=subscription)
        .select_related("subscription", "client")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound()
    return delivery
