"""LDAP user passwords (ecosystem.md 4.4) with ldap3: the Password Modify extended operation.

The privileged account (its username is its bind DN) resets the account's password with
RFC 3062's Password Modify operation (OID 1.3.6.1.4.1.4203.1.11.1) and no old password, so
the server hashes it itself (slapd: olcPasswordHash, {SSHA} by default) and applies its
password policy (ppolicy); a plain modify of userPassword would store cleartext. The account
rotated is the credential's username: a DN, or a uid searched under the target's base DN
with an escaped filter. Verification is a fresh simple bind as that DN.

The helpers below the result codes are shared with the Active Directory connector: opening
a bound connection over the target's TLS mode, and turning network and TLS failures into
plain words.
"""

import contextlib
import ssl

from django.views.decorators.debug import sensitive_variables
from ldap3 import BASE, NO_ATTRIBUTES, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from rotation.connectors.base import ConnectorError, Endpoint

STARTTLS = "starttls"
TLS = "tls"
PLAIN = "none"
TLS_MODES = (STARTTLS, TLS, PLAIN)

# LDAP result codes (RFC 4511) with a message of their own.
SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4
CONFIDENTIALITY_REQUIRED = 13
CONSTRAINT_VIOLATION = 19
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS = 50
DIAGNOSTIC_MAX = 200

LDAP = "LDAP server"


def where(endpoint: Endpoint) -> str:
    return f"{endpoint.host}:{endpoint.port}"


def tls_mode(endpoint: Endpoint, *, default: str) -> str:
    """The target's TLS mode (blank: the connector's default), or a ConnectorError."""
    mode = endpoint.tls_mode or default
    if mode not in TLS_MODES:
        raise ConnectorError(f"Unknown TLS mode “{mode}”: choose starttls, tls or none.")
    return mode


def safe_diagnostic(message: str, *secrets: str) -> str:
    """The server's diagnostic text, shortened; empty when it might echo a secret."""
    if any(secret and secret in message for secret in secrets):
        return ""
    return " ".join(message.split())[:DIAGNOSTIC_MAX]


def network_error(error: Exception, *, product: str, endpoint: Endpoint) -> ConnectorError:
    """Plain words for a failure to reach or encrypt a connection (never the error's text)."""
    at = f"{product} at {where(endpoint)}"
    text = str(error)
    if isinstance(error, ldap_errors.LDAPStartTLSError) and "startTLS failed" in text:
        return ConnectorError(
            f"The {at} refused StartTLS, so Keyhold did not send any password: the server has no "
            "TLS set up. Set up TLS there, or choose LDAPS (tls) if it listens for it."
        )
    if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return ConnectorError(
            f"TLS with the {at} failed: its certificate is not trusted by this Keyhold server "
            "(add the issuing CA to the rotation worker's trusted certificates)."
        )
    if isinstance(error, ldap_errors.LDAPCertificateError):
        return ConnectorError(
            f"TLS with the {at} failed: its certificate does not name the host “{endpoint.host}”."
        )
    if isinstance(error, ssl.SSLError | ldap_errors.LDAPStartTLSError) or "ssl" in text.lower():
        return ConnectorError(
            f"TLS with the {at} failed: the server did not complete a TLS handshake (check that "
            "the port and the TLS mode match: LDAPS usually listens on 636, StartTLS on 389)."
        )
    if isinstance(error, TimeoutError) or "timed out" in text:
        return ConnectorError(
            f"Keyhold could not reach the {at}: the connection timed out (check the host, the port "
            "and the firewall)."
        )
    if isinstance(error, ldap_errors.LDAPSocketOpenError) and "invalid server address" in text:
        return ConnectorError(
            f"Keyhold could not reach the {at}: the host name “{endpoint.host}” does not resolve."
        )
    if isinstance(error, ldap_errors.LDAPCommunicationError | OSError):
        return ConnectorError(
            f"Keyhold could not reach the {at}: nothing answered there (check the host, the port "
            "and the firewall)."
        )
    return ConnectorError(
        f"The {at} did not answer like an LDAP server ({type(error).__name__}); check the host "
        "and the port."
    )


@sensitive_variables("secret")
def ldap_bind(
    endpoint: Endpoint, *, product: str, mode: str, bind_name: str, secret: str
) -> tuple[Connection | None, dict]:
    """Open a connection over `mode` and bind; (connection, result), the connection None when
    the server refused the bind. Network and TLS failures raise a ConnectorError.
    """
    server = Server(
        endpoint.host,
        port=endpoint.port,
        use_ssl=mode == TLS,
        tls=Tls(validate=ssl.CERT_REQUIRED),
        connect_timeout=endpoint.connect_timeout,
        get_info=NONE,
    )
    conn = Connection(
        server,
        user=bind_name,
        password=secret,
        receive_timeout=endpoint.connect_timeout,
        raise_exceptions=False,
        auto_referrals=False,
    )
    try:
        conn.open()
        # Never fall back to sending the password in the clear when StartTLS did not start.
        if mode == STARTTLS and not conn.start_tls():
            raise ldap_errors.LDAPStartTLSError("startTLS failed")
        bound = conn.bind()
    except Exception as error:
        ldap_close(conn)
        raise network_error(error, product=product, endpoint=endpoint) from None
    finally:
        # ldap3 shows the password in the connection's repr; it is not needed after the bind.
        conn.password = None
    result = dict(conn.result or {})
    if not bound:
        ldap_close(conn)
        return None, result
    return conn, result


def ldap_close(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()


def ldap_base_read(conn: Connection, *, product: str, endpoint: Endpoint) -> None:
    """Read the base DN's entry (the dry run's proof that the account sees the directory)."""
    if not endpoint.base_dn:
        raise ConnectorError("This target has no base DN: set the base DN where accounts live.")
    try:
        conn.search(
            endpoint.base_dn, "(objectClass=*)", search_scope=BASE, attributes=NO_ATTRIBUTES
        )
    except Exception as error:
        raise network_error(error, product=product, endpoint=endpoint) from None
    if conn.result["result"] != SUCCESS:
        raise ConnectorError(
            f"The {product} at {where(endpoint)} has no entry at the base DN “{endpoint.base_dn}” "
            "(or the privileged account may not read it)."
        )


def is_dn(username: str) -> bool:
    """A username is a DN when it parses as one; anything else is a uid to search for."""
    if "=" not in username:
        return False
    try:
        parse_dn(username)
    except ldap_errors.LDAPInvalidDnError:
        return False
    return True


def uid_filter(uid: str) -> str:
    """The search filter for one uid, with the filter's special characters escaped."""
    return f"(uid={escape_filter_chars(uid)})"


def entries_found(
    conn: Connection,
    *,
    product: str,
    endpoint: Endpoint,
    search_filter: str,
    username: str,
    attributes: list[str] | str,
    hint: str = "",
) -> dict:
    """The one entry the filter matches under the base DN; ConnectorError for none or several."""
    if not endpoint.base_dn:
        raise ConnectorError(
            f"This target has no base DN, so Keyhold cannot look up “{username}”: set the base "
            "DN, or give the account's full DN as the credential's username."
        )
    try:
        conn.search(
            endpoint.base_dn,
            search_filter,
            search_scope=SUBTREE,
            attributes=attributes,
            size_limit=2,
        )
    except Exception as error:
        raise network_error(error, product=product, endpoint=endpoint) from None
    code = conn.result["result"]
    if code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
        raise ConnectorError(
            f"The {product} at {where(endpoint)} could not search under “{endpoint.base_dn}” for "
            f"“{username}” ({conn.result['description']})."
        )
    entries = [item for item in conn.response or [] if item.get("type") == "searchResEntry"]
    if not entries:
        raise ConnectorError(
            f"The {product} at {where(endpoint)} has no account “{username}” under "
            f"“{endpoint.base_dn}”{hint}."
        )
    if len(entries) > 1:
        raise ConnectorError(
            f"The {product} at {where(endpoint)} has several accounts “{username}” under "
            f"“{endpoint.base_dn}”: give the account's full DN as the credential's username."
        )
    return entries[0]


class LdapConnector:
    kind = "ldap"
    label = "LDAP user (password modify)"
    default_port = 389
    needs = ("base_dn", "tls_mode")
    required = ("base_dn",)
    privileged_help = (
        "The bind DN of an account that may write userPassword of these accounts (an olcAccess "
        "rule “by dn.exact=… write”), e.g. cn=rotator,dc=example,dc=com. Not the rootDN: "
        "the directory's password policy does not apply to the rootDN."
    )

    @sensitive_variables("privileged_secret")
    def _privileged(
        self, endpoint: Endpoint, *, mode: str, privileged_username: str, privileged_secret: str
    ) -> Connection:
        if not is_dn(privileged_username) or not privileged_secret:
            raise ConnectorError(
                "The privileged credential needs its bind DN as its username (such as "
                "cn=rotator,dc=example,dc=com) and a password."
            )
        conn, result = ldap_bind(
            endpoint,
            product=LDAP,
            mode=mode,
            bind_name=privileged_username,
            secret=privileged_secret,
        )
        if conn is None:
            if result.get("result") == INVALID_CREDENTIALS:
                raise ConnectorError(
                    f"The {LDAP} at {where(endpoint)} refused the login: the privileged "
                    f"password was refused (or there is no entry “{privileged_username}”)."
                )
            raise self._refused(result, endpoint=endpoint, account=privileged_username)
        return conn

    def _refused(
        self, result: dict, *, endpoint: Endpoint, account: str, secrets: tuple[str, ...] = ()
    ) -> ConnectorError:
        """Plain words for an LDAP result other than success (the diagnostic only if safe)."""
        at = f"The {LDAP} at {where(endpoint)}"
        code = result.get("result")
        diagnostic = safe_diagnostic(result.get("message") or "", *secrets)
        if code == NO_SUCH_OBJECT:
            return ConnectorError(f"{at} has no account “{account}”.")
        if code == INSUFFICIENT_ACCESS:
            return ConnectorError(
                f"The privileged account may not change the password of “{account}” on the LDAP "
                f"server at {where(endpoint)}: give it write access to userPassword (see the "
                "LDAP connector documentation)."
            )
        if code == CONSTRAINT_VIOLATION:
            because = f" ({diagnostic})" if diagnostic else ""
            return ConnectorError(
                f"{at} refused the new password for “{account}”: its password policy does not "
                f"allow it{because}."
            )
        if code == CONFIDENTIALITY_REQUIRED:
            return ConnectorError(
                f"{at} requires an encrypted connection for this: choose StartTLS or LDAPS."
            )
        detail = f": {diagnostic}" if diagnostic else ""
        return ConnectorError(
            f"{at} refused the operation for “{account}” ({result.get('description')}{detail})."
        )

    def _user_dn(
        self, conn: Connection, *, endpoint: Endpoint, username: str, hint: str = ""
    ) -> str:
        if is_dn(username):
            return username
        entry = entries_found(
            conn,
            product=LDAP,
            endpoint=endpoint,
            search_filter=uid_filter(username),
            username=username,
            attributes=NO_ATTRIBUTES,
            hint=hint,
        )
        return entry["dn"]

    @sensitive_variables("secret")
    def _binds(self, endpoint: Endpoint, *, mode: str, user_dn: str, secret: str) -> bool:
        conn, _ = ldap_bind(endpoint, product=LDAP, mode=mode, bind_name=user_dn, secret=secret)
        if conn is None:
            return False
        ldap_close(conn)
        return True

    @sensitive_variables("privileged_secret")
    def check(
        self, endpoint: Endpoint, *, privileged_username: str, privileged_secret: str
    ) -> None:
        mode = tls_mode(endpoint, default=STARTTLS)
        conn = self._privileged(
            endpoint,
            mode=mode,
            privileged_username=privileged_username,
            privileged_secret=privileged_secret,
        )
        try:
            ldap_base_read(conn, product=LDAP, endpoint=endpoint)
        finally:
            ldap_close(conn)

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
        if not username:
            raise ConnectorError(
                "This credential has no username: Keyhold cannot tell which account."
            )
        mode = tls_mode(endpoint, default=STARTTLS)
        conn = self._privileged(
            endpoint,
            mode=mode,
            privileged_username=privileged_username,
            privileged_secret=privileged_secret,
        )
        try:
            user_dn = self._user_dn(conn, endpoint=endpoint, username=username)
            try:
                conn.extend.standard.modify_password(user_dn, new_password=new_secret)
            except Exception as error:
                raise network_error(error, product=LDAP, endpoint=endpoint) from None
            result = dict(conn.result or {})
        finally:
            ldap_close(conn)
        if result.get("result") == SUCCESS:
            return
        # A retry re-applies the pending secret; a policy refusing "no change" means it is set.
        if result.get("result") == CONSTRAINT_VIOLATION and self._binds(
            endpoint, mode=mode, user_dn=user_dn, secret=new_secret
        ):
            return
        raise self._refused(
            result,
            endpoint=endpoint,
            account=username,
            secrets=(new_secret, privileged_secret),
        )

    @sensitive_variables("new_secret")
    def verify(self, endpoint: Endpoint, *, username: str, new_secret: str) -> None:
        mode = tls_mode(endpoint, default=STARTTLS)
        user_dn = self._verify_dn(endpoint, mode=mode, username=username)
        conn, result = ldap_bind(
            endpoint, product=LDAP, mode=mode, bind_name=user_dn, secret=new_secret
        )
        if conn is None:
            if result.get("result") == INVALID_CREDENTIALS:
                raise ConnectorError(
                    f"The {LDAP} at {where(endpoint)} refused the login of “{user_dn}”: the new "
                    "password was refused."
                )
            raise self._refused(result, endpoint=endpoint, account=username, secrets=(new_secret,))
        ldap_close(conn)

    def _verify_dn(self, endpoint: Endpoint, *, mode: str, username: str) -> str:
        """The account's DN for the fresh bind: a uid is looked up anonymously, since the
        verification must not lean on the privileged account.
        """
        if is_dn(username):
            return username
        conn, _ = ldap_bind(endpoint, product=LDAP, mode=mode, bind_name="", secret="")
        if conn is None:
            raise ConnectorError(
                f"The {LDAP} at {where(endpoint)} does not allow an anonymous lookup of "
                f"“{username}”: give the account's full DN as the credential's username."
            )
        try:
            return self._user_dn(
                conn,
                endpoint=endpoint,
                username=username,
                hint=(
                    " (verification looks a uid up anonymously; if this directory hides "
                    "accounts from anonymous searches, give the account's full DN as the "
                    "credential's username)"
                ),
            )
        finally:
            ldap_close(conn)
