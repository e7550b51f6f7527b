"""Active Directory's unicodePwd rules, as pure functions, and the refusals made before any
network call.

No domain controller runs on this machine (a Samba AD DC is the optional way to run one; see
docs/connectors/active-directory.md), so the rules AD applies are tested here as the
connector builds them: the encoded value, the modify request's shape, the local complexity
check, the reading of AD's error codes, and the refusal of an unencrypted connection. The
network half (bind, search, TLS) is the LDAP connector's, tested against a real slapd.
"""

import socket
from contextlib import contextmanager

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE

from rotation.connectors import ConnectorError, connector_for
from rotation.connectors.active_directory import (
    POLICY_REFUSAL,
    ActiveDirectoryConnector,
    ad_bind_name,
    ad_error_message,
    ad_user_filter,
    complexity_problem,
    unicode_pwd_changes,
    unicode_pwd_value,
)
from rotation.connectors.base import Endpoint

BASE_DN = "OU=Staff,DC=corp,DC=example"
GOOD = "Rotated-Secret-2025-xyz"
OLD = "Previous-Secret-1999-abc"


@contextmanager
def silent_port():
    """A listening loopback port, to prove afterwards that nobody connected to it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()


def endpoint(port: int, tls_mode: str = "tls") -> Endpoint:
    return Endpoint(
        host="127.0.0.1", port=port, base_dn=BASE_DN, tls_mode=tls_mode, connect_timeout=1
    )


def test_the_registry_knows_the_active_directory_connector():
    connector = connector_for("active_directory")
    assert isinstance(connector, ActiveDirectoryConnector)
    assert (connector.kind, connector.default_port) == ("active_directory", 636)
    assert connector.needs == ("base_dn", "tls_mode")
    assert "base_dn" in connector.required
    assert "Reset Password" in connector.privileged_help


def test_unicode_pwd_is_the_quoted_password_in_utf16_le():
    assert unicode_pwd_value("Ab1!") == b'"\x00A\x00b\x001\x00!\x00"\x00'


@pytest.mark.parametrize(
    ("password", "middle"),
    [
        ("Pässwört€1", "P\x00\xe4\x00s\x00s\x00w\x00\xf6\x00r\x00t\x00\xac\x201\x00"),
        ("Ключ-2025", "\x1a\x04;\x04N\x04G\x04-\x002\x000\x002\x005\x00"),
        # Outside the BMP: a surrogate pair, low byte first in each half.
        ("🔑Key", "=\xd8\x11\xddK\x00e\x00y\x00"),
    ],
)
def test_unicode_pwd_encodes_non_ascii_passwords(password, middle):
    value = unicode_pwd_value(password)
    assert value == b'"\x00' + middle.encode("latin-1") + b'"\x00'
    assert value.decode("utf-16-le") == f'"{password}"'


def test_an_administrators_reset_is_one_replace():
    assert unicode_pwd_changes(GOOD) == {
        "unicodePwd": [(MODIFY_REPLACE, [unicode_pwd_value(GOOD)])]
    }


def test_a_users_own_change_is_one_request_deleting_the_old_and_adding_the_new():
    changes = unicode_pwd_changes(GOOD, old_password=OLD)
    assert list(changes) == ["unicodePwd"]
    assert changes["unicodePwd"] == [
        (MODIFY_DELETE, [unicode_pwd_value(OLD)]),
        (MODIFY_ADD, [unicode_pwd_value(GOOD)]),
    ]


@pytest.mark.parametrize(
    ("password", "account_name", "refused_because"),
    [
        ("alllowercaseletters", "", "at least three"),
        ("ALLUPPER1234567", "", "at least three"),
        ("1234567890-=+!", "", "at least three"),
        ("lowerUPPER", "", "at least three"),
        ("Lower-UPPER", "", ""),
        ("lower1234567", "", "at least three"),
        ("lower-1234567", "", ""),
        ("Upper1234567", "", ""),
        ("ключUPPER1", "", ""),
        # Letters without case (CJK) count as a category of their own.
        ("秘密abc123", "", ""),
        ("Jdoe-2025-Secret", "jdoe", "contains the account name “jdoe”"),
        ("xJDOEx-2025-a", "jdoe", "contains the account name “jdoe”"),
        # A name of two characters or fewer is not checked.
        ("Al-2025-Secret", "al", ""),
        ("Safe-2025-Secret", "jdoe", ""),
    ],
)
def test_the_default_complexity_rule_is_checked_locally(password, account_name, refused_because):
    problem = complexity_problem(password, account_name=account_name)
    if refused_because:
        assert refused_because in problem
    else:
        assert problem == ""


@pytest.mark.parametrize(
    ("code", "diagnostic", "during", "expected"),
    [
        (
            19,
            "0000052D: Constraint violation - check_password_restrictions: the password does "
            "not meet the complexity requirements!",
            "change",
            POLICY_REFUSAL,
        ),
        (
            19,
            "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 "
            "(CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)",
            "change",
            "refused by the domain's password policy (complexity, length, history or minimum age)",
        ),
        (
            50,
            "00000005: SecErr: DSID-031A11C4, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0",
            "change",
            "insufficient rights (delegate “Reset Password”",
        ),
        (
            53,
            "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0",
            "change",
            "only over an encrypted connection",
        ),
        (
            49,
            "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 52e, "
            "v4563",
            "privileged login",
            "the privileged password was refused",
        ),
        (
            49,
            "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 52e, "
            "v4563",
            "login",
            "the new password was refused",
        ),
        (
            49,
            "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 775, "
            "v4563",
            "login",
            "the account is locked out",
        ),
        (
            49,
            "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 533, "
            "v4563",
            "privileged login",
            "the account is disabled",
        ),
        (
            49,
            "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 532, "
            "v4563",
            "login",
            "its password has expired",
        ),
        (32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)", "change", "no account"),
        (80, "", "change", "refused the operation for “jdoe” (LDAP result 80)"),
    ],
)
def test_ad_error_codes_are_read_into_plain_words(code, diagnostic, during, expected):
    message = ad_error_message(
        code=code, diagnostic=diagnostic, address="dc01:636", account="jdoe", during=during
    )
    assert expected in message
    assert message.startswith(("The domain controller at dc01:636", "The privileged account"))


def test_user_filters_escape_the_name_and_follow_its_form():
    person = "(&(objectCategory=person)(objectClass=user)"
    assert ad_user_filter("jdoe") == f"{person}(sAMAccountName=jdoe))"
    assert ad_user_filter("CORP\\jdoe") == f"{person}(sAMAccountName=jdoe))"
    assert ad_user_filter("jdoe@corp.example") == f"{person}(userPrincipalName=jdoe@corp.example))"
    assert ad_user_filter(f"CN=John Doe,{BASE_DN}") == (
        f"(distinguishedName=CN=John Doe,{BASE_DN})"
    )
    escaped = ad_user_filter("*)(sAMAccountName=*")
    assert escaped == f"{person}(sAMAccountName=\\2a\\29\\28sAMAccountName=\\2a))"


def test_the_login_name_is_the_upn_or_dn_or_the_implicit_upn():
    assert ad_bind_name("jdoe@corp.example", base_dn=BASE_DN) == "jdoe@corp.example"
    assert ad_bind_name("CORP\\jdoe", base_dn=BASE_DN) == "CORP\\jdoe"
    assert ad_bind_name(f"CN=John Doe,{BASE_DN}", base_dn=BASE_DN) == f"CN=John Doe,{BASE_DN}"
    assert ad_bind_name("jdoe", base_dn=BASE_DN) == "jdoe@corp.example"
    with pytest.raises(ConnectorError, match="cannot tell the domain"):
        ad_bind_name("jdoe", base_dn="O=Example")


def test_an_unencrypted_connection_is_refused_before_any_network_call():
    connector = ActiveDirectoryConnector()
    with silent_port() as listener:
        plain = endpoint(listener.getsockname()[1], tls_mode="none")
        with pytest.raises(ConnectorError, match="only over an encrypted connection"):
            connector.check(
                plain, privileged_username="rotator@corp.example", privileged_secret=OLD
            )
        with pytest.raises(ConnectorError, match="only over an encrypted connection"):
            connector.apply(
                plain,
                privileged_username="rotator@corp.example",
                privileged_secret=OLD,
                username="jdoe",
                new_secret=GOOD,
            )
        with pytest.raises(ConnectorError, match="only over an encrypted connection"):
            connector.verify(plain, username="jdoe", new_secret=GOOD)


def test_blank_tls_mode_means_ldaps():
    # Nothing speaks TLS on the silent port, so the handshake times out: LDAPS was attempted.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(ConnectorError, match=r"TLS with the domain controller at .* failed"):
            ActiveDirectoryConnector().verify(
                endpoint(listener.getsockname()[1], tls_mode=""), username="jdoe", new_secret=GOOD
            )


def test_an_obviously_refused_password_fails_before_connecting():
    with silent_port() as listener:
        with pytest.raises(ConnectorError, match="would be refused: it must mix at least three"):
            ActiveDirectoryConnector().apply(
                endpoint(listener.getsockname()[1]),
                privileged_username="rotator@corp.example",
                privileged_secret=OLD,
                username="jdoe",
                new_secret="onlylowercaseletters",
            )
        with pytest.raises(ConnectorError, match="contains the account name “jdoe”"):
            ActiveDirectoryConnector().apply(
                endpoint(listener.getsockname()[1]),
                privileged_username="rotator@corp.example",
                privileged_secret=OLD,
                username="CORP\\jdoe",
                new_secret="Jdoe-Rotated-2025",
            )
