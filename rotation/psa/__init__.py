"""PSA ticket adapters: one per PSA, all behind rotation.psa.base.PsaAdapter.

`adapter_for(kind=..., base_url=..., settings=..., secrets=...)` builds the adapter of a
connection; the services unseal the secrets and never hand them anywhere else.
"""

from rotation.psa.autotask import AutotaskAdapter
from rotation.psa.base import PsaAdapter, PsaError, ticket_marker, ticket_summary
from rotation.psa.connectwise import ConnectWiseAdapter
from rotation.psa.halopsa import HaloPsaAdapter
from rotation.psa.webhook import WebhookAdapter

ADAPTERS: dict[str, type[PsaAdapter]] = {
    "webhook": WebhookAdapter,
    "connectwise": ConnectWiseAdapter,
    "autotask": AutotaskAdapter,
    "halopsa": HaloPsaAdapter,
}


def adapter_for(*, kind: str, base_url: str, settings: dict, secrets: dict) -> PsaAdapter:
    try:
        adapter_class = ADAPTERS[kind]
    except KeyError:
        raise PsaError(f"Unknown PSA kind {kind!r}.") from None
    return adapter_class(base_url=base_url, settings=settings, secrets=secrets)


__all__ = [
    "ADAPTERS",
    "PsaAdapter",
    "PsaError",
    "adapter_for",
    "ticket_marker",
    "ticket_summary",
]
