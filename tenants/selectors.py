"""Reads of clients and systems, always scoped to what the acting user may see."""

import uuid

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from accounts.models import User
from config.errors import AccessDenied, NotFound
from tenants.models import AccessLevel, Assignment, Client, System
from tenants.reach import client_reach_q


def client_level_for_user(*, actor: User, client: Client) -> AccessLevel | None:
    """The actor's active access level on the client, from one indexed lookup."""
    level = (
        Assignment.objects.filter(
            client_reach_q("client"), user=actor, client=client, revoked_at__isnull=True
        )
        .values_list("level", flat=True)
        .first()
    )
    return AccessLevel(level) if level is not None else None


def client_list_for_user(*, actor: User, search: str = "") -> QuerySet[Client]:
    """The clients the actor may see, with their own level and the count of active systems."""
    active_systems = (
        System.objects.filter(client=OuterRef("pk"), status=System.Status.ACTIVE)
        .order_by()
        .values("client")
        .annotate(total=Count("pk"))
        .values("total")
    )
    clients = Client.objects.for_user(actor, AccessLevel.VIEW).annotate(
        my_level=F("assignments__level"),
        system_count=Subquery(active_systems),
    )
    if search:
        clients = clients.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    return clients.order_by("name")


def client_get_for_user(*, actor: User, slug: str, level: AccessLevel) -> Client:
    """One client; NotFound when missing or not assigned, AccessDenied when the level is short."""
    client = (
        Client.objects.for_user(actor, AccessLevel.VIEW)
        .annotate(my_level=F("assignments__level"))
        .filter(slug=slug)
        .first()
    )
    if client is None:
        raise NotFound()
    if client.my_level < level:
        raise access_short(held=client.my_level, needed=level, client_name=client.name)
    return client


def access_short(*, held: int, needed: AccessLevel, client_name: str) -> AccessDenied:
    """The refusal for an assignment below what an action needs, worded the same everywhere."""
    return AccessDenied(
        f"You have {AccessLevel(held).short_label.lower()} access to {client_name}; this "
        f"needs {AccessLevel(needed).short_label.lower()} access. Ask a manager to change "
        "your assignment."
    )


def system_list_for_client(*, actor: User, client: Client) -> QuerySet[System]:
    return (
        System.objects.for_user(actor, AccessLevel.VIEW)
        .filter(client=client)
        .order_by("status", "name")
    )


def system_get_for_user(*, actor: User, client: Client, system_id: str) -> System:
    system = (
        System.objects.for_user(actor, AccessLevel.VIEW).filter(client=client, pk=system_id).first()
    )
    if system is None:
        raise NotFound()
    return system


def assignment_list_for_client(*, actor: User, client: Client) -> QuerySet[Assignment]:
    """Every grant on the client, current and past; for those who manage it."""
    client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
    return (
        Assignment.objects.filter(client=client)
        .select_related("user", "granted_by", "revoked_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "user__full_name")
    )


def assignment_get_for_client(*, actor: User, client: Client, assignment_id: str) -> Assignment:
    assignment = (
        assignment_list_for_client(actor=actor, client=client)
        .filter(pk=assignment_id, revoked_at__isnull=True)
        .first()
    )
    if assignment is None:
        raise NotFound()
    return assignment


def assignment_list_for_staff_member(*, actor: User, member: User) -> QuerySet[Assignment]:
    """A staff member's grants, on the clients the actor manages (others stay unseen)."""
    managed = Client.objects.for_user(actor, AccessLevel.MANAGE)
    return (
        Assignment.objects.filter(user=member, client__in=managed)
        .select_related("client", "granted_by", "revoked_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "client__name")
    )


def clients_managed_by(*, actor: User) -> QuerySet[Client]:
    return Client.objects.for_user(actor, AccessLevel.MANAGE).order_by("name")


def search_for_user(*, actor: User, query: str, limit: int = 50) -> dict:
    """Clients and systems matching the query, among those the actor may see."""
    query = query.strip()
    if not query:
        return {"clients": [], "systems": []}
    clients = client_list_for_user(actor=actor, search=query)[:limit]
    systems = (
        System.objects.for_user(actor, AccessLevel.VIEW)
        .filter(Q(name__icontains=query) | Q(client__name__icontains=query))
        .select_related("client")
        .order_by("client__name", "name")[:limit]
    )
    return {"clients": list(clients), "systems": list(systems)}


def client_primary_technician_candidates(*, actor: User, client: Client) -> QuerySet[User]:
    """Active staff assigned to the client with use level or more (who may own its tasks)."""
    client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.VIEW)
    return User.objects.filter(
        is_active=True,
        assignments__client=client,
        assignments__revoked_at__isnull=True,
        assignments__level__gte=AccessLevel.USE,
    ).order_by("full_name", "email")


# --- The REST API names clients and systems by id and filters them -------------------------


def client_list_filtered(*, actor: User, search: str = "", status: str = "") -> QuerySet[Client]:
    """client_list_for_user narrowed to one status ("" keeps all), for the API's filters."""
    clients = client_list_for_user(actor=actor, search=search.strip()[:200])
    if status:
        clients = clients.filter(status=status)
    return clients


def client_get_by_id_for_user(*, actor: User, client_id: uuid.UUID | str) -> Client:
    """One client by id (the API's name for it), with my_level and system_count; NotFound
    when missing or not the actor's."""
    client = client_list_for_user(actor=actor).filter(pk=client_id).first()
    if client is None:
        raise NotFound()
    return client


def system_list_filtered(
    *,
    actor: User,
    client_id: uuid.UUID | None = None,
    kind: str = "",
    status: str = "",
    search: str = "",
) -> QuerySet[System]:
    """Systems of every client the actor may see, with their client, for the API's filters.

    `search` matches the system's or its client's name, as the search box does.
    """
    systems = System.objects.for_user(actor, AccessLevel.VIEW)
    if client_id is not None:
        systems = systems.filter(client_id=client_id)
    if kind:
        systems = systems.filter(kind=kind)
    if status:
        systems = systems.filter(status=status)
    search = search.strip()[:200]
    if search:
        systems = systems.filter(Q(name__icontains=search) | Q(client__name__icontains=search))
    return systems.select_related("client").order_by("client__name", "name", "pk")


def system_get_by_id_for_user(*, actor: User, system_id: uuid.UUID | str) -> System:
    """One system by id, with its client; NotFound when missing or not the actor's."""
    system = system_list_filtered(actor=actor).filter(pk=system_id).first()
    if system is None:
        raise NotFound()
    return system
