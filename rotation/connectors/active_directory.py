"""Active Directory user passwords (ecosystem.md 4.5): AD's unicodePwd rules, with ldap3.

AD does not implement RFC 3062's Password Modify operation. A password is the attribute
unicodePwd, whose value is the password wrapped in double quotes and encoded as UTF-16-LE,
and AD accepts it only over an encrypted connection (LDAPS or StartTLS; else 0000001F
WILL_NOT_PERFORM), so the TLS mode "none" is refused before anything is sent.

- An administrator's reset (the privileged account holds "Reset Password" on the account) is
  one modify with REPLACE; it skips history and minimum age, so a retry is idempotent.
- A user's own change (the "Change Password" right) is one modify with DELETE of the old
  value and ADD of the new one; AD then enforces history and minimum age. Keyhold resets;
  the shape is built here for completeness and tested.

The default complexity rule is checked locally first, so an obviously refused password fails
with a plain reason before any change is attempted. Verification is a fresh bind as the
account (its UPN or DN) over the same encrypted connection.
"""

import re

from django.views.decorators.debug import sensitive_variables
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, Connection
from ldap3.utils.conv import escape_filter_chars

from rotation.connectors.base import ConnectorError, Endpoint
from rotation.connectors.ldap import (
    CONSTRAINT_VIOLATION,
    INSUFFICIENT_ACCESS,
    INVALID_CREDENTIALS,
    NO_SUCH_OBJECT,
    PLAIN,
    SUCCESS,
    TLS,
    entries_found,
    is_dn,
    ldap_base_read,
    ldap_bind,
    ldap_close,
    network_error,
    safe_diagnostic,
    tls_mode,
    where,
)

AD = "domain controller"
UNWILLING_TO_PERFORM = 53
SAM_ACCOUNT_NAME = "sAMAccountName"
# The leading Win32 error of AD's diagnostic text, e.g. "0000052D: Constraint violation - …".
WIN32_CODE = re.compile(r"\s*([0-9A-Fa-f]{8}):")
# A bind failure's sub-code, e.g. "80090308: LdapErr: …, AcceptSecurityContext error, data 52e".
BIND_DATA = re.compile(r"\bdata ([0-9A-Fa-f]+)\b")

# Why a bind was refused (the "data" sub-code): plain words after "the login of “x”: ".
BIND_REFUSALS = {
    "525": "there is no such account",
    "530": "the account may not log in at this time of day",
    "531": "the account may not log in from this computer",
    "532": "its password has expired",
    "533": "the account is disabled",
    "701": "the account has expired",
    "773": "the account must change its password at the next logon",
    "775": "the account is locked out",
}
POLICY_REFUSAL = (
    "refused by the domain's password policy (complexity, length, history or minimum age)"
)


def unicode_pwd_value(password: str) -> bytes:
    """unicodePwd's value: the password in double quotes, encoded as UTF-16-LE."""
    return ('"' + password + '"').encode("utf-16-le")


@sensitive_variables("new_password", "old_password")
def unicode_pwd_changes(
    new_password: str, *, old_password: str | None = None
) -> dict[str, list[tuple[str, list[bytes]]]]:
    """The modify request's changes: REPLACE for an administrator's reset; DELETE of the old
    value and ADD of the new one, in one request, for a user's own change.
    """
    if old_password is None:
        return {"unicodePwd": [(MODIFY_REPLACE, [unicode_pwd_value(new_password)])]}
    return {
        "unicodePwd": [
            (MODIFY_DELETE, [unicode_pwd_value(old_password)]),
            (MODIFY_ADD, [unicode_pwd_value(new_password)]),
        ]
    }


def _category(char: str) -> str:
    """The complexity category AD counts a character in ("" for none)."""
    if char.isupper():
        return "uppercase"
    if char.islower():
        return "lowercase"
    if char in "0123456789":
        return "digit"
    if char.isalpha():
        return "letter without case"
    if not char.isalnum():
        return "symbol"
    return ""


@sensitive_variables("password")
def complexity_problem(password: str, *, account_name: str) -> str:
    """Why AD's default complexity rule would refuse the password, or "" if it would not.

    The rule: characters from at least three of uppercase, lowercase, digits 0-9, symbols
    (and letters without case, such as CJK); and not the account name (sAMAccountName,
    any case) when that name is longer than two characters.
    """
    categories = {_category(char) for char in password} - {""}
    if len(categories) < 3:
        return (
            "it must mix at least three of uppercase letters, lowercase letters, digits and "
            "symbols (the domain's default complexity rule)"
        )
    if len(account_name) > 2 and account_name.casefold() in password.casefold():
        return f"it contains the account name “{account_name}”, which the domain refuses"
    return ""


def ad_error_message(*, code: int, diagnostic: str, address: str, account: str, during: str) -> str:
    """Plain words for AD's refusal. `during` is "privileged login", "login" (the account's
    fresh login with the new password) or "change"; `diagnostic` is AD's text, already safe.
    """
    win32 = WIN32_CODE.match(diagnostic)
    win32 = win32.group(1).upper() if win32 else ""
    data = BIND_DATA.search(diagnostic)
    data = data.group(1).lower() if data else ""
    at = f"The {AD} at {address}"
    if data in BIND_REFUSALS:
        return f"{at} refused the login of “{account}”: {BIND_REFUSALS[data]}."
    if data == "52e" or code == INVALID_CREDENTIALS:
        which = "privileged" if during == "privileged login" else "new"
        return f"{at} refused the login of “{account}”: the {which} password was refused."
    if win32 == "0000052D" or code == CONSTRAINT_VIOLATION:
        return f"{at} refused the new password for “{account}”: {POLICY_REFUSAL}."
    if win32 == "00000005" or code == INSUFFICIENT_ACCESS:
        return (
            f"The privileged account may not reset the password of “{account}” at the {AD} at "
            f"{address}: it has insufficient rights (delegate “Reset Password” on the account's "
            "OU to it)."
        )
    if win32 == "0000001F" or "WILL_NOT_PERFORM" in diagnostic or code == UNWILLING_TO_PERFORM:
        return (
            f"{at} will not perform the password change for “{account}”: AD sets passwords "
            "only over an encrypted connection (LDAPS or StartTLS) and only as a quoted "
            "UTF-16 value (0000001F, WILL_NOT_PERFORM)."
        )
    if code == NO_SUCH_OBJECT:
        return f"{at} has no account “{account}”."
    detail = f": {diagnostic}" if diagnostic else ""
    return f"{at} refused the operation for “{account}” (LDAP result {code}{detail})."


def ad_user_filter(username: str) -> str:
    """The search filter for an account named by its DN, UPN (name@domain), DOMAIN\\name or
    sAMAccountName, with the filter's special characters escaped.
    """
    if is_dn(username):
        return f"(distinguishedName={escape_filter_chars(username)})"
    if "@" in username:
        match = f"(userPrincipalName={escape_filter_chars(username)})"
    else:
        name = username.rsplit("\\", 1)[-1]
        match = f"({SAM_ACCOUNT_NAME}={escape_filter_chars(name)})"
    return f"(&(objectCategory=person)(objectClass=user){match})"


def ad_bind_name(username: str, *, base_dn: str) -> str:
    """The name the account logs in with: its DN, UPN or DOMAIN\\name as given, or for a bare
    sAMAccountName the implicit UPN name@domain, the domain taken from the base DN's DC parts.
    """
    if is_dn(username) or "@" in username or "\\" in username:
        return username
    domain = ".".join(
        part.split("=", 1)[1].strip()
        for part in base_dn.split(",")
        if part.strip().lower().startswith("dc=")
    )
    if not domain:
        raise ConnectorError(
            f"Keyhold cannot tell the domain to log in “{username}” with: give the base DN's "
            "DC parts (DC=corp,DC=example), or the account's UPN as the credential's username."
        )
    return f"{username}@{domain}"


def _mode(endpoint: Endpoint) -> str:
    mode = tls_mode(endpoint, default=TLS)
    if mode == PLAIN:
        raise ConnectorError(
            "Active Directory sets passwords only over an encrypted connection: choose LDAPS "
            "(tls) or StartTLS for this target; Keyhold sent nothing."
        )
    return mode


class ActiveDirectoryConnector:
    kind = "active_directory"
    label = "Active Directory user"
    default_port = 636
    needs = ("base_dn", "tls_mode")
    required = ("base_dn",)
    privileged_help = (
        "A domain account delegated “Reset Password” (and read access) on the OU that holds "
        "these accounts, given as its UPN (rotator@corp.example), DOMAIN\\name or DN. Not a "
        "Domain Admin: delegate only what rotation needs."
    )

    @sensitive_variables("privileged_secret")
    def _privileged(
        self, endpoint: Endpoint, *, mode: str, privileged_username: str, privileged_secret: str
    ) -> Connection:
        if not privileged_username or not privileged_secret:
            raise ConnectorError("The privileged credential needs a username and a password.")
        conn, result = ldap_bind(
            endpoint,
            product=AD,
            mode=mode,
            bind_name=privileged_username,
            secret=privileged_secret,
        )
        if conn is None:
            raise ConnectorError(
                ad_error_message(
                    code=result.get("result", 0),
                    diagnostic=safe_diagnostic(result.get("message") or "", privileged_secret),
                    address=where(endpoint),
                    account=privileged_username,
                    during="privileged login",
                )
            )
        return conn

    @sensitive_variables("privileged_secret")
    def check(
        self, endpoint: Endpoint, *, privileged_username: str, privileged_secret: str
    ) -> None:
        mode = _mode(endpoint)
        conn = self._privileged(
            endpoint,
            mode=mode,
            privileged_username=privileged_username,
            privileged_secret=privileged_secret,
        )
        try:
            ldap_base_read(conn, product=AD, endpoint=endpoint)
        finally:
            ldap_close(conn)

    def _account(self, conn: Connection, *, endpoint: Endpoint, username: str) -> tuple[str, str]:
        """The account's DN and sAMAccountName."""
        entry = entries_found(
            conn,
            product=AD,
            endpoint=endpoint,
            search_filter=ad_user_filter(username),
            username=username,
            attributes=[SAM_ACCOUNT_NAME],
        )
        name = entry.get("attributes", {}).get(SAM_ACCOUNT_NAME) or ""
        # Without the server's schema, ldap3 returns every attribute as a list.
        if isinstance(name, list):
            name = name[0] if name else ""
        return entry["dn"], str(name)

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
        mode = _mode(endpoint)
        early = complexity_problem(new_secret, account_name=_sam_account_name(username))
        if early:
            raise ConnectorError(f"The new password for “{username}” would be refused: {early}.")
        conn = self._privileged(
            endpoint,
            mode=mode,
            privileged_username=privileged_username,
            privileged_secret=privileged_secret,
        )
        try:
            user_dn, sam_account_name = self._account(conn, endpoint=endpoint, username=username)
            late = complexity_problem(new_secret, account_name=sam_account_name)
            if late:
                raise ConnectorError(f"The new password for “{username}” would be refused: {late}.")
            try:
                conn.modify(user_dn, unicode_pwd_changes(new_secret))
            except Exception as error:
                raise network_error(error, product=AD, endpoint=endpoint) from None
            result = dict(conn.result or {})
        finally:
            ldap_close(conn)
        if result.get("result") != SUCCESS:
            raise ConnectorError(
                ad_error_message(
                    code=result.get("result", 0),
                    diagnostic=safe_diagnostic(
                        result.get("message") or "", new_secret, privileged_secret
                    ),
                    address=where(endpoint),
                    account=username,
                    during="change",
                )
            )

    @sensitive_variables("new_secret")
    def verify(self, endpoint: Endpoint, *, username: str, new_secret: str) -> None:
        mode = _mode(endpoint)
        name = ad_bind_name(username, base_dn=endpoint.base_dn)
        conn, result = ldap_bind(endpoint, product=AD, mode=mode, bind_name=name, secret=new_secret)
        if conn is None:
            raise ConnectorError(
                ad_error_message(
                    code=result.get("result", 0),
                    diagnostic=safe_diagnostic(result.get("message") or "", new_secret),
                    address=where(endpoint),
                    account=name,
                    during="login",
                )
            )
        ldap_close(conn)


def _sam_account_name(username: str) -> str:
    """The sAMAccountName in a username given as name or DOMAIN\\name; a DN's or a UPN's is
    known only after the lookup.
    """
    if is_dn(username) or "@" in username:
        return ""
    return username.rsplit("\\", 1)[-1]
