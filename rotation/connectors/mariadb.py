"""MariaDB user passwords (ecosystem.md 4.3), with PyMySQL.

A MariaDB account is user@host, and one user often has several host entries ('app'@'%',
'app'@'localhost', …) that share a password only by convention. Keyhold rotates every
host entry of the user, read from mysql.global_priv, so no entry keeps the old password.
Every entry is examined before any is changed: an entry signing in by a method Keyhold
cannot set (unix_socket, PAM, several methods at once) stops the run with nothing changed.

The plaintext stays off the server where the server allows it: for mysql_native_password
Keyhold sends `IDENTIFIED BY PASSWORD '*<hash>'` (SHA1(SHA1(password)), computed here), and
for ed25519 `IDENTIFIED VIA ed25519 USING '<public key>'` (derived here the way the
server's plugin does). MariaDB writes statements to its general log and binary log as
sent, so a plaintext `IDENTIFIED BY '…'` would land in them. The one exception: a server
with an active password-validation plugin (simple_password_check, cracklib_password_check,
password_reuse_check) under strict_password_validation refuses pre-hashed passwords,
because the plugin must see the plaintext to judge it; there Keyhold sends the plaintext
as an escaped literal.

An entry that already holds the new secret is left alone, so a retry re-applies the same
pending secret without a second change (and without tripping password_reuse_check). User
and host are checked against a strict allow-list before they are quoted into SQL; a user
name with a quote, backslash, newline or "@" is refused before Keyhold connects.
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass

import pymysql
from django.views.decorators.debug import sensitive_variables
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp

from rotation.connectors.base import ConnectorError, Endpoint

USER_PATTERN = re.compile(r"[A-Za-z0-9_.$-]{1,80}")
HOST_PATTERN = re.compile(r"[A-Za-z0-9_.%:/-]{1,255}")
NATIVE = "mysql_native_password"
ED25519 = "ed25519"
SETTABLE_PLUGINS = (NATIVE, ED25519)

ER_ACCESS_DENIED = 1045
ER_ACCESS_DENIED_NO_PASSWORD = 1698
ER_HOST_NOT_PRIVILEGED = 1130
ER_ACCOUNT_LOCKED = 4151
ER_SPECIFIC_ACCESS_DENIED = 1227
ER_TABLEACCESS_DENIED = 1142
ER_CANNOT_USER = 1396
ER_NOT_VALID_PASSWORD = 1819
ER_OPTION_PREVENTS_STATEMENT = 1290
CR_CONN_HOST_ERROR = 2003
CR_SERVER_LOST = 2013

# ALTER USER needs the global CREATE USER privilege or UPDATE on the mysql database.
RIGHTS_FOR_ALTER = {"ALL PRIVILEGES", "CREATE USER", "UPDATE"}
RIGHTS_ON_MYSQL = {"ALL PRIVILEGES", "UPDATE"}
GRANT_LINE = re.compile(r"GRANT (?P<privileges>.+?) ON (?P<level>\*\.\*|`mysql`\.\*) TO ")


@dataclass(frozen=True)
class HostEntry:
    """One user@host row of mysql.global_priv: how it signs in, and what it stores."""

    host: str
    plugin: str
    stored: str
    several_methods: bool


def _where(endpoint: Endpoint) -> str:
    return f"{endpoint.host}:{endpoint.port}"


def _code(error: pymysql.Error) -> int:
    return error.args[0] if error.args and isinstance(error.args[0], int) else 0


def _timed_out(error: pymysql.Error) -> bool:
    return "timed out" in str(error).lower()


def _account(user: str, host: str) -> str:
    return f"“{user}”@“{host}”"


def _user_checked(username: str) -> str:
    """The user name, or a ConnectorError before any SQL if it is not plainly safe."""
    if not username:
        raise ConnectorError("This credential has no username: Keyhold cannot tell which user.")
    if "@" in username:
        raise ConnectorError(
            "Give the MariaDB user name without “@host”: Keyhold rotates every host entry of "
            "the user."
        )
    if not USER_PATTERN.fullmatch(username):
        raise ConnectorError(
            "This username has characters Keyhold will not put into SQL (only letters, digits "
            "and _ . $ - are allowed, at most 80): change the password by hand."
        )
    return username


@sensitive_variables("secret")
def _connect(
    endpoint: Endpoint, *, username: str, secret: str, who: str
) -> pymysql.connections.Connection:
    """A connection, or a ConnectorError saying in plain words why not (never the secret)."""
    where = _where(endpoint)
    if not username:
        raise ConnectorError("A credential has no username: Keyhold cannot sign in to MariaDB.")
    try:
        return pymysql.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=username,
            password=secret.encode("utf-8"),
            connect_timeout=endpoint.connect_timeout,
            read_timeout=endpoint.connect_timeout,
            write_timeout=endpoint.connect_timeout,
            autocommit=True,
            charset="utf8mb4",
            program_name="keyhold-rotation",
        )
    except pymysql.Error as error:
        code = _code(error)
        if code in (ER_ACCESS_DENIED, ER_ACCESS_DENIED_NO_PASSWORD):
            raise ConnectorError(
                f"MariaDB at {where} refused the login: {who} password was refused."
            ) from None
        if code == ER_ACCOUNT_LOCKED:
            raise ConnectorError(
                f"MariaDB at {where} refused the login: the account “{username}” is locked."
            ) from None
        if code == ER_HOST_NOT_PRIVILEGED:
            raise ConnectorError(
                f"MariaDB at {where} does not let “{username}” sign in from Keyhold's address "
                "(no host entry of that user matches it)."
            ) from None
        if code in (CR_CONN_HOST_ERROR, CR_SERVER_LOST) and _timed_out(error):
            raise ConnectorError(
                f"Keyhold could not reach MariaDB at {where}: the connection timed out."
            ) from None
        if code in (CR_CONN_HOST_ERROR, CR_SERVER_LOST):
            raise ConnectorError(
                f"Keyhold could not reach MariaDB at {where}: nothing answered there "
                "(check the host, the port and the firewall)."
            ) from None
        raise ConnectorError(
            f"MariaDB at {where} refused the connection (error {code or type(error).__name__})."
        ) from None


def _query(
    conn: pymysql.connections.Connection, endpoint: Endpoint, sql: str, args: tuple = ()
) -> list[tuple]:
    """Rows of a read, or a ConnectorError for a timeout or a missing right."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall())
    except pymysql.Error as error:
        raise _statement_error(error, endpoint) from None


def _statement_error(error: pymysql.Error, endpoint: Endpoint) -> ConnectorError:
    """A plain-words error for a failed statement: its code only, never the server's text,
    which may quote the statement and so the secret."""
    code = _code(error)
    where = _where(endpoint)
    if code == ER_TABLEACCESS_DENIED:
        return ConnectorError(
            f"The privileged account may not read the list of users on MariaDB at {where} "
            "(it needs SELECT on mysql.global_priv)."
        )
    if code == ER_SPECIFIC_ACCESS_DENIED:
        return ConnectorError(
            f"The privileged account may not change passwords on MariaDB at {where} "
            "(it needs the CREATE USER privilege)."
        )
    if code in (CR_CONN_HOST_ERROR, CR_SERVER_LOST) and _timed_out(error):
        return ConnectorError(f"MariaDB at {where} stopped answering: the statement timed out.")
    if code in (CR_CONN_HOST_ERROR, CR_SERVER_LOST):
        return ConnectorError(f"The connection to MariaDB at {where} dropped.")
    return ConnectorError(
        f"MariaDB at {where} refused the statement (error {code or type(error).__name__})."
    )


def _require_mariadb(conn: pymysql.connections.Connection, endpoint: Endpoint) -> None:
    version = _query(conn, endpoint, "SELECT VERSION()")[0][0]
    if "mariadb" not in str(version).lower():
        raise ConnectorError(
            f"The server at {_where(endpoint)} is MySQL {version}, not MariaDB: Keyhold rotates "
            "MariaDB 10.4 or later only."
        )


def _host_entries(
    conn: pymysql.connections.Connection, endpoint: Endpoint, username: str
) -> list[HostEntry]:
    rows = _query(
        conn,
        endpoint,
        "SELECT Host, Priv FROM mysql.global_priv WHERE User = %s ORDER BY Host",
        (username,),
    )
    if not rows:
        raise ConnectorError(f"MariaDB at {_where(endpoint)} has no user “{username}”.")
    entries = []
    for host, priv in rows:
        if not HOST_PATTERN.fullmatch(host):
            raise ConnectorError(
                f"A host entry of “{username}” on MariaDB at {_where(endpoint)} has characters "
                "Keyhold will not put into SQL: change the password by hand."
            )
        settings = json.loads(priv)
        entries.append(
            HostEntry(
                host=host,
                # An entry without a plugin is a pre-10.4 style mysql_native_password one.
                plugin=settings.get("plugin") or NATIVE,
                stored=settings.get("authentication_string", ""),
                several_methods=bool(settings.get("auth_or")),
            )
        )
    return entries


def _refuse_unsettable(entries: list[HostEntry], *, username: str) -> None:
    """Stop before any change if one entry cannot take a password Keyhold sets."""
    for entry in entries:
        account = _account(username, entry.host)
        if entry.several_methods:
            raise ConnectorError(
                f"{account} signs in by several methods; setting a password would remove the "
                "others. Nothing was changed: rotate it by hand."
            )
        if entry.plugin not in SETTABLE_PLUGINS:
            raise ConnectorError(
                f"{account} signs in with {entry.plugin}, not a password Keyhold can set "
                "(Keyhold rotates mysql_native_password and ed25519 accounts). Nothing was "
                "changed."
            )


@sensitive_variables("secret")
def native_hash(secret: str) -> str:
    """mysql_native_password's stored form: '*' + SHA1(SHA1(password)) in upper-case hex."""
    inner = hashlib.sha1(secret.encode("utf-8")).digest()  # noqa: S324 - the plugin's format
    return "*" + hashlib.sha1(inner).hexdigest().upper()  # noqa: S324


@sensitive_variables("secret", "scalar")
def ed25519_public_key(secret: str) -> str:
    """auth_ed25519's stored form: the Ed25519 public key whose seed is the password."""
    scalar = bytearray(hashlib.sha512(secret.encode("utf-8")).digest()[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    key = crypto_scalarmult_ed25519_base_noclamp(bytes(scalar))
    return base64.b64encode(key).decode("ascii").rstrip("=")


def _stored_form(plugin: str, secret: str) -> str:
    return native_hash(secret) if plugin == NATIVE else ed25519_public_key(secret)


def _policy_needs_plaintext(conn: pymysql.connections.Connection, endpoint: Endpoint) -> bool:
    rows = _query(
        conn,
        endpoint,
        "SELECT @@strict_password_validation AND EXISTS (SELECT 1 FROM "
        "information_schema.PLUGINS WHERE PLUGIN_TYPE = 'PASSWORD VALIDATION' "
        "AND PLUGIN_STATUS = 'ACTIVE')",
    )
    return bool(rows[0][0])


@sensitive_variables("secret", "statement")
def _alter(
    conn: pymysql.connections.Connection,
    endpoint: Endpoint,
    *,
    username: str,
    entry: HostEntry,
    secret: str,
    plaintext: bool,
) -> None:
    account = f"{conn.escape(username)}@{conn.escape(entry.host)}"
    if entry.plugin == NATIVE and plaintext:
        statement = f"ALTER USER {account} IDENTIFIED BY {conn.escape(secret)}"
    elif entry.plugin == NATIVE:
        statement = (
            f"ALTER USER {account} IDENTIFIED BY PASSWORD {conn.escape(native_hash(secret))}"
        )
    elif plaintext:
        statement = (
            f"ALTER USER {account} IDENTIFIED VIA ed25519 USING PASSWORD({conn.escape(secret)})"
        )
    else:
        statement = (
            f"ALTER USER {account} IDENTIFIED VIA ed25519 USING "
            f"{conn.escape(ed25519_public_key(secret))}"
        )
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    except pymysql.Error as error:
        if _code(error) == ER_CANNOT_USER:
            raise _alter_refusal(
                conn, endpoint, username=username, entry=entry, secret=secret
            ) from None
        raise _statement_error(error, endpoint) from None


@sensitive_variables("secret")
def _alter_refusal(
    conn: pymysql.connections.Connection,
    endpoint: Endpoint,
    *,
    username: str,
    entry: HostEntry,
    secret: str,
) -> ConnectorError:
    """Why ALTER USER failed: MariaDB gives one code and puts the cause in its warnings."""
    account = _account(username, entry.host)
    where = _where(endpoint)
    notes = _query(conn, endpoint, "SHOW WARNINGS")
    codes = {code for _, code, _ in notes}
    if ER_NOT_VALID_PASSWORD in codes or ER_OPTION_PREVENTS_STATEMENT in codes:
        reasons = "; ".join(
            text
            for _, code, text in notes
            if code == ER_NOT_VALID_PASSWORD and "policy requirements" not in text
        )
        if secret in reasons:
            reasons = ""
        return ConnectorError(
            f"MariaDB at {where} refused the new password for {account}: it does not meet "
            "the server's password policy"
            + (f" ({reasons[:200]})." if reasons else ".")
            + " Adjust the rotation policy (length, symbols) to match it."
        )
    return ConnectorError(
        f"MariaDB at {where} could not change the password of {account} (it may have been "
        "dropped meanwhile)."
    )


def _grants_allow_alter(conn: pymysql.connections.Connection, endpoint: Endpoint) -> bool:
    """Whether the login's grants (its own and its current role's) allow ALTER USER."""
    for (line,) in _query(conn, endpoint, "SHOW GRANTS"):
        match = GRANT_LINE.match(line)
        if match is None:
            continue
        privileges = {p.strip() for p in match["privileges"].split(",")}
        wanted = RIGHTS_FOR_ALTER if match["level"] == "*.*" else RIGHTS_ON_MYSQL
        if privileges & wanted:
            return True
    return False


class MariaDBConnector:
    kind = "mariadb"
    label = "MariaDB user"
    default_port = 3306
    needs = ()
    required = ()
    privileged_help = (
        "A MariaDB account that may sign in from Keyhold's address, with the CREATE USER "
        "privilege and SELECT on mysql.global_priv (to find every host entry of the user). "
        "Not root over the Unix socket: Debian's root signs in without a password."
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
            _require_mariadb(conn, endpoint)
            _query(conn, endpoint, "SELECT 1 FROM mysql.global_priv LIMIT 0")
            if not _grants_allow_alter(conn, endpoint):
                raise ConnectorError(
                    f"The privileged account may not change passwords on MariaDB at "
                    f"{_where(endpoint)} (it needs the CREATE USER privilege)."
                )

    @sensitive_variables("privileged_secret", "new_secret")
    def apply(
        self,
        endpoint: Endpoint,
        *,
        privileged_username: str,
        privileged_secret: str,
        username: str,
        new_secret: str,
    ) -> None:
        username = _user_checked(username)
        with _connect(
            endpoint,
            username=privileged_username,
            secret=privileged_secret,
            who="the privileged",
        ) as conn:
            _require_mariadb(conn, endpoint)
            entries = _host_entries(conn, endpoint, username)
            _refuse_unsettable(entries, username=username)
            plaintext = _policy_needs_plaintext(conn, endpoint)
            for entry in entries:
                if entry.stored == _stored_form(entry.plugin, new_secret):
                    continue
                _alter(
                    conn,
                    endpoint,
                    username=username,
                    entry=entry,
                    secret=new_secret,
                    plaintext=plaintext,
                )

    @sensitive_variables("new_secret")
    def verify(self, endpoint: Endpoint, *, username: str, new_secret: str) -> None:
        with _connect(endpoint, username=username, secret=new_secret, who="the new") as conn:
            _query(conn, endpoint, "SELECT 1")
