"""A request-wide narrowing of the clients an actor reaches, for API tokens limited to some.

An administrator may limit a token to a few clients. Every tenant-scoped read already starts
from the actor's assignments (`Client.objects.for_user` and the selectors built on it), so
the limit is applied there, once, instead of in each API view where one could be forgotten.
The API's base view sets it for the duration of a request; nothing else does.
"""

import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import Q

_limit: ContextVar[frozenset[uuid.UUID] | None] = ContextVar(
    "keyhold_client_reach_limit", default=None
)


def client_reach_limit() -> frozenset[uuid.UUID] | None:
    """The clients the current request is limited to, or None when it is not limited."""
    return _limit.get()


@contextmanager
def client_reach_limited(client_ids: Collection[uuid.UUID] | None) -> Iterator[None]:
    """Limit every scoped read inside the block to `client_ids` (None: no limit)."""
    token = _limit.set(None if client_ids is None else frozenset(client_ids))
    try:
        yield
    finally:
        _limit.reset(token)


def client_reach_q(field: str = "pk") -> Q:
    """A filter keeping rows whose `field` is a client within the limit (all when unlimited)."""
    limit = _limit.get()
    return Q() if limit is None else Q(**{f"{field}__in": limit})


def client_reach_narrow(client_ids: Collection[uuid.UUID]) -> None:
    """Narrow the current request to `client_ids`, inside a `client_reach_limited` block.

    For the API's base view, which learns the token only after authentication, deep inside
    the block that will undo this when the request ends.
    """
    _limit.set(frozenset(client_ids))
