"""Automated rotation connectors: one module per kind of target, all with base.Connector's shape."""

from rotation.connectors.base import Connector, ConnectorError
from rotation.connectors.postgresql import PostgreSQLConnector

CONNECTORS: dict[str, type[Connector]] = {"postgresql": PostgreSQLConnector}


def connector_for(kind: str) -> Connector:
    """The connector of a target's kind; ConnectorError when Keyhold has none for it."""
    try:
        return CONNECTORS[kind]()
    except KeyError:
        raise ConnectorError(f"Keyhold has no automated rotation for “{kind}” targets.") from None


__all__ = ["CONNECTORS", "Connector", "ConnectorError", "connector_for"]
