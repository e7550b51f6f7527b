"""Reads of checkouts: one credential's lease state, my checkouts, the approval queue."""

import uuid
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Role, User
from config.errors import AccessDenied, NotFound
from tenants.models import AccessLevel, Client
from vault.models import Checkout, Credential

RECENT_ENDED_LIMIT = 20
OPEN_STATUSES = (Checkout.Status.ACTIVE, Checkout.Status.REQUESTED)


def _visible_checkouts(actor: User) -> QuerySet[Checkout]:
    return Checkout.objects.filter(client__in=Client.objects.for_user(actor, AccessLevel.VIEW))


def checkout_get_for_user(*, actor: User, checkout_id: uuid.UUID | str) -> Checkout:
    """One checkout of a client the actor may see; NotFound when missing or not theirs."""
    if not actor.is_authenticated or not actor.is_active:
        raise NotFound()
    checkout = (
        _visible_checkouts(actor)
        .filter(pk=checkout_id)
        .select_related("client", "requested_by")
        .defer("credential__secret", "credential__notes", "credential__totp_seed")
        .select_related("credential")
        .first()
    )
    if checkout is None:
        raise NotFound()
    return checkout


@dataclass
class CheckoutPanel:
    """What the credential page shows about checkouts of one credential."""

    actor_id: uuid.UUID
    lease: Checkout | None = None
    my_request: Checkout | None = None
    pending: list[Checkout] = field(default_factory=list)

    @property
    def held_by_me(self) -> bool:
        return self.lease is not None and self.lease.requested_by_id == self.actor_id


def checkout_panel_for(*, actor: User, credential: Credential) -> CheckoutPanel:
    """The credential's current lease (unexpired) and waiting requests, in one query.

    The caller reached `credential` through credential_get_for_user.
    """
    now = timezone.now()
    panel = CheckoutPanel(actor_id=actor.pk)
    rows = (
        Checkout.objects.filter(credential_id=credential.pk, status__in=OPEN_STATUSES)
        .select_related("requested_by")
        .order_by("requested_at")
    )
    for checkout in rows:
        if checkout.status == Checkout.Status.ACTIVE:
            if checkout.expires_at > now:
                panel.lease = checkout
        else:
            panel.pending.append(checkout)
            if checkout.requested_by_id == actor.pk:
                panel.my_request = checkout
    return panel


@dataclass(frozen=True)
class MyCheckouts:
    active: list[Checkout]
    pending: list[Checkout]
    ended: list[Checkout]


def _with_relations(checkouts: QuerySet[Checkout]) -> QuerySet[Checkout]:
    return checkouts.select_related("client", "credential", "requested_by", "decided_by").defer(
        "credential__secret", "credential__notes", "credential__totp_seed"
    )


def checkout_list_mine(*, actor: User) -> MyCheckouts:
    """The actor's open checkouts and their most recent ended ones, in two queries."""
    mine = _with_relations(_visible_checkouts(actor).filter(requested_by=actor))
    now = timezone.now()
    active, pending = [], []
    for checkout in mine.filter(status__in=OPEN_STATUSES).order_by("-requested_at"):
        if checkout.status == Checkout.Status.REQUESTED:
            pending.append(checkout)
        elif checkout.expires_at > now:
            active.append(checkout)
    ended = list(
        mine.exclude(status__in=OPEN_STATUSES).order_by("-requested_at")[:RECENT_ENDED_LIMIT]
    )
    return MyCheckouts(active=active, pending=pending, ended=ended)


@dataclass(frozen=True)
class ApprovalQueue:
    pending: list[Checkout]
    active: list[Checkout]


def checkout_approval_queue(*, actor: User) -> ApprovalQueue:
    """Waiting requests and active leases of the clients the manager is assigned to.

    The actor's own requests are listed too, but cannot be approved by them.
    """
    if not actor.has_role(Role.MANAGER):
        raise AccessDenied(
            "The approval queue is for managers. Ask a manager to approve your checkout."
        )
    visible = _with_relations(_visible_checkouts(actor))
    pending = list(visible.filter(status=Checkout.Status.REQUESTED).order_by("requested_at"))
    active = list(
        visible.filter(status=Checkout.Status.ACTIVE, expires_at__gt=timezone.now()).order_by(
            "expires_at"
        )
    )
    return ApprovalQueue(pending=pending, active=active)


def checkout_list_for_user(
    *, actor: User, status: str = "", credential_id: uuid.UUID | None = None
) -> QuerySet[Checkout]:
    """The actor's own checkouts and, for a manager, the requests awaiting their answer.

    For the API's list: newest first, with everything its rows show joined in, so a page
    costs one query whatever its size. A manager answers requests of the clients they are
    assigned to (as checkout_approve checks); other people's ended checkouts stay out.
    """
    if not actor.is_authenticated or not actor.is_active:
        return Checkout.objects.none()
    wanted = Q(requested_by=actor)
    if actor.has_role(Role.MANAGER):
        wanted |= Q(status=Checkout.Status.REQUESTED)
    checkouts = _visible_checkouts(actor).filter(wanted)
    if status:
        checkouts = checkouts.filter(status=status)
    if credential_id is not None:
        checkouts = checkouts.filter(credential_id=credential_id)
    return _with_relations(checkouts).select_related("ended_by").order_by("-requested_at", "-pk")
