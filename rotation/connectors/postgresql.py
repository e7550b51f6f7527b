"""PostgreSQL role passwords (ecosystem.md 4.2), with psycopg 3.

The new password is hashed on this side into a SCRAM-SHA-256 verifier (libpq's
PQencryptPasswordConn) and sent as `ALTER ROLE … PASSWORD '<verifier>'`, so the plaintext
never reaches the server, its logs or pg_stat_activity. The role name is quoted with
psycopg.sql.Identifier. Verification is a fresh connection as the role.
"""

import psycopg
from psycopg import sql

from rotation.connectors.base import ConnectorError, Endpoint

NOT_REFUSED = "password authentication failed"


def _where(endpoint: Endpoint) -> str:
    return f"{endpoint.host}:{endpoint.port}"


def _connect(endpoint: Endpoint, *, username: str, secret: str, who: str) -> psycopg.Connection:
    """A connection, or a ConnectorError saying in plain words why not (never the secret)."""
    try:
        return psycopg.connect(
            host=endpoint.host,
            port=endpoint.port,
            dbname=endpoint.database or "postgres",
            user=username,
            password=secret,
            connect_timeout=endpoint.connect_timeout,
            sslmode="prefer",
            application_name="keyhold-rotation",
            autocommit=True,
        )
    except psycopg.OperationalError as error:
        text = str(error).lower()
        if NOT_REFUSED in text or "no password" in text or "pg_hba.conf" in text:
            raise ConnectorError(
                f"PostgreSQL at {_where(endpoint)} refused the login: {who} password was refused."
            ) from None
        if f'database "{endpoint.database}" does not exist' in text:
            raise ConnectorError(
                f"PostgreSQL at {_where(endpoint)} has no database “{endpoint.database}”."
            ) from None
        if "timeout" in text or "timed out" in text:
            raise ConnectorError(
                f"Keyhold could not reach PostgreSQL at {_where(endpoint)}: the connection "
                "timed out."
            ) from None
        raise ConnectorError(
            f"Keyhold could not reach PostgreSQL at {_where(endpoint)}: nothing answered there "
            "(check the host, the port and the firewall)."
        ) from None


class PostgreSQLConnector:
    kind = "postgresql"
    label = "PostgreSQL role"
    default_port = 5432
    needs = ("database",)
    required = ()
    privileged_help = (
        "A role with CREATEROLE (or a superuser, to rotate a superuser role) that may log in "
        "to this database."
    )

    def check(
        self, endpoint: Endpoint, *, privileged_username: str, privileged_secret: str
    ) -> None:
        with _connect(
            endpoint,
            username=privileged_username,
            secret=privileged_secret,
            who="the privileged",
        ) as conn:
            conn.execute("SELECT 1")

    def apply(
        self,
        endpoint: Endpoint,
        *,
        privileged_username: str,
        privileged_secret: str,
        username: str,
        new_secret: str,
    ) -> None:
        if not username:
            raise ConnectorError("This credential has no username: Keyhold cannot tell which role.")
        with _connect(
            endpoint,
            username=privileged_username,
            secret=privileged_secret,
            who="the privileged",
        ) as conn:
            try:
                verifier = conn.pgconn.encrypt_password(
                    new_secret.encode("utf-8"), username.encode("utf-8"), b"scram-sha-256"
                )
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                        sql.Identifier(username), sql.Literal(verifier.decode("ascii"))
                    )
                )
            except psycopg.errors.UndefinedObject:
                raise ConnectorError(
                    f"PostgreSQL at {_where(endpoint)} has no role “{username}”."
                ) from None
            except psycopg.errors.InsufficientPrivilege:
                raise ConnectorError(
                    f"The privileged account may not change the password of “{username}” on "
                    f"PostgreSQL at {_where(endpoint)} (it needs CREATEROLE, or superuser for a "
                    "superuser role)."
                ) from None
            except psycopg.Error as error:
                raise ConnectorError(
                    f"PostgreSQL at {_where(endpoint)} refused the new password "
                    f"({type(error).__name__})."
                ) from None

    def verify(self, endpoint: Endpoint, *, username: str, new_secret: str) -> None:
        with _connect(endpoint, username=username, secret=new_secret, who="the new") as conn:
            conn.execute("SELECT 1")
