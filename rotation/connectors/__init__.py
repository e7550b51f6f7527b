"""Automated rotation connectors: one module per kind of target, all with base.Connector's shape.

Each connector is imported when first used, so a web process that never rotates does not
load the SSH, LDAP and MySQL drivers.
"""

from django.utils.module_loading import import_string

from rotation.connectors.base import Connector, ConnectorError

CONNECTORS: dict[str, str] = {
    "postgresql": "rotation.connectors.postgresql.PostgreSQLConnector",
    "mariadb": "rotation.connectors.mariadb.MariaDBConnector",
    "ldap": "rotation.connectors.ldap.LdapConnector",
    "active_directory": "rotation.connectors.active_directory.ActiveDirectoryConnector",
    "ssh": "rotation.connectors.ssh.SshConnector",
}


def connector_for(kind: str) -> Connector:
    """The connector of a target's kind; ConnectorError when Keyhold has none for it."""
    try:
        return import_string(CONNECTORS[kind])()
    except KeyError:
        raise ConnectorError(f"Keyhold has no automated rotation for “{kind}” targets.") from None


__all__ = ["CONNECTORS", "Connector", "ConnectorError", "connector_for"]
