"""Automated rotation of an LDAP user against a real, private OpenLDAP slapd.

Each module run builds its own cn=config with slapadd -n0 (mdb backend, the ppolicy overlay
with a default policy: at least 12 characters, quality checked), starts slapd on a free
loopback port, loads the people below and stops it afterwards. A second slapd with a test
CA's certificate is started for the TLS tests only. The privileged account is the
"rotator" entry, which may write userPassword by ACL (the rootDN, exempt from ppolicy, only
sets the world up). Keyhold's own database is separate, so these run on SQLite too.

Action covered here, with exactly one event per run: rotation.automated_attempted (success
and error outcomes).
"""

import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from ldap3 import BASE, MODIFY_REPLACE, Connection, Server

from audit.models import AuditEvent
from rotation.connectors import ConnectorError, connector_for
from rotation.connectors.base import Endpoint
from rotation.connectors.ldap import LdapConnector, uid_filter
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from rotation.services import automation
from rotation.services.automation import rotation_automated_run
from tests.rotation.automation_support import free_port, target_world
from tests.vault.test_credentials import opened

SUFFIX = "dc=keyhold,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_SECRET = "Root-Secret-6120"
ROTATOR = f"cn=rotator,{SUFFIX}"
ROTATOR_SECRET = "Rotator-Secret-3384"
POLICY = f"cn=default,ou=policies,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
JDOE = f"uid=jdoe,{PEOPLE}"
ASMITH = f"uid=asmith,{PEOPLE}"
BOSS = f"uid=boss,ou=admins,{SUFFIX}"
TWINS = (f"uid=twin,{PEOPLE}", f"uid=twin,ou=contractors,{SUFFIX}")
# A real uid holding the filter's special characters, found only if escaped exactly once.
ODD_UID = "ops*(night)\\shift"
ODD = f"uid=ops*(night)\\5cshift,{PEOPLE}"
USERS = (JDOE, ASMITH, BOSS, ODD, *TWINS)
USER_OLD = "Old-User-Secret-4411"
MIN_LENGTH = 12
ACTION = "rotation.automated_attempted"

ACCESS = (
    # The admins' passwords are out of the rotator's reach (the "insufficient access" case).
    f'to dn.subtree="ou=admins,{SUFFIX}" attrs=userPassword by self write by anonymous auth '
    "by * none",
    f'to attrs=userPassword by dn.exact="{ROTATOR}" write by self write by anonymous auth '
    "by * none",
    # Anyone may find an account by uid (Keyhold's verification looks a uid up anonymously).
    "to attrs=entry,objectClass,uid by * read",
    "to * by users read by * none",
)


def _binary(name: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin"):
        if Path(folder, name).exists():
            return str(Path(folder, name))
    pytest.fail(
        f"{name} (Debian packages slapd and ldap-utils) is missing; scripts/test.sh installs it."
    )


class PrivateSlapd:
    """A throwaway slapd: cn=config in a temp dir, optionally with TLS from a test CA."""

    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls
        self.root = Path(tempfile.mkdtemp(prefix="keyhold-slapd-"))
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.process: subprocess.Popen | None = None
        self.ca_file = self.root / "ca.crt"

    def _run(self, *command: str) -> str:
        done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
        return done.stdout

    def _certificates(self) -> str:
        """A test CA and a server certificate for 127.0.0.1 only (so "localhost" mismatches)."""
        openssl = shutil.which("openssl") or pytest.fail("openssl is missing.")
        ca_key, key, request = self.root / "ca.key", self.root / "server.key", self.root / "csr"
        extensions = self.root / "server.ext"
        extensions.write_text(
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        )
        curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
        self._run(
            openssl, "req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(self.ca_file),
            "-days", "2", "-subj", "/CN=Keyhold test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        self._run(
            openssl, "req", *curve, "-keyout", str(key), "-out", str(request),
            "-subj", "/CN=127.0.0.1",
        )  # fmt: skip
        self._run(
            openssl, "x509", "-req", "-in", str(request), "-CA", str(self.ca_file),
            "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
            "-extfile", str(extensions), "-out", str(self.root / "server.crt"),
        )  # fmt: skip
        return (
            f"olcTLSCACertificateFile: {self.ca_file}\n"
            f"olcTLSCertificateFile: {self.root / 'server.crt'}\n"
            f"olcTLSCertificateKeyFile: {key}\n"
        )

    def _config(self, root_hash: str) -> str:
        schema = "".join(
            f"include: file:///etc/ldap/schema/{name}.ldif\n"
            for name in ("core", "cosine", "nis", "inetorgperson")
        )
        access = "".join(f"olcAccess: {{{i}}}{rule}\n" for i, rule in enumerate(ACCESS))
        tls = self._certificates() if self.tls else ""
        return f"""dn: cn=config
objectClass: olcGlobal
cn: config
{tls}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schema}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {self.root / "db"}
olcDbMaxSize: 67108864
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {root_hash}
{access}
dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: {POLICY}
"""

    def start(self) -> None:
        slapadd, slapd = _binary("slapadd"), _binary("slapd")
        secret_file = self.root / "root.pw"
        secret_file.touch(mode=0o600)
        secret_file.write_text(ROOT_SECRET)
        # -T reads the secret from a file: it never appears on a command line.
        root_hash = self._run(_binary("slappasswd"), "-T", str(secret_file)).strip()
        secret_file.unlink()
        (self.root / "db").mkdir()
        (self.root / "slapd.d").mkdir()
        ldif = self.root / "config.ldif"
        ldif.write_text(self._config(root_hash))
        self._run(slapadd, "-n0", "-F", str(self.root / "slapd.d"), "-l", str(ldif))
        urls = f"ldap://127.0.0.1:{self.port}/"
        if self.tls:
            urls += f" ldaps://127.0.0.1:{self.tls_port}/"
        # -d keeps slapd in the foreground, so it is stopped by this process id.
        with open(self.root / "slapd.log", "w") as log:
            self.process = subprocess.Popen(
                [slapd, "-d", "0", "-h", urls, "-F", str(self.root / "slapd.d")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait()
        self._load()

    def _wait(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail("slapd stopped: " + (self.root / "slapd.log").read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("slapd did not start listening within 15 seconds.")

    def admin(self) -> Connection:
        """The rootDN's connection (setup and inspection only; ppolicy does not apply to it)."""
        return Connection(Server("127.0.0.1", port=self.port), ROOT_DN, ROOT_SECRET, auto_bind=True)

    def _load(self) -> None:
        conn = self.admin()
        entries = [
            (SUFFIX, ["dcObject", "organization"], {"o": "Keyhold test", "dc": "keyhold"}),
            (f"ou=policies,{SUFFIX}", ["organizationalUnit"], {}),
            (POLICY, ["organizationalRole", "pwdPolicy"], self._policy(MIN_LENGTH)),
            (ROTATOR, ["organizationalRole", "simpleSecurityObject"], {"userPassword": "-"}),
            (PEOPLE, ["organizationalUnit"], {}),
            (f"ou=contractors,{SUFFIX}", ["organizationalUnit"], {}),
            (f"ou=admins,{SUFFIX}", ["organizationalUnit"], {}),
        ] + [(dn, ["inetOrgPerson"], {"cn": dn.split(",")[0][4:], "sn": "Test"}) for dn in USERS]
        for dn, classes, attributes in entries:
            assert conn.add(dn, classes, attributes), conn.result
        assert conn.extend.standard.modify_password(ROTATOR, new_password=ROTATOR_SECRET)
        conn.unbind()

    @staticmethod
    def _policy(min_length: int) -> dict:
        return {
            "pwdAttribute": "userPassword",
            "pwdMinLength": str(min_length),
            "pwdCheckQuality": "2",
            "pwdInHistory": "3",
        }

    def reset(self) -> None:
        """Every user back to the old password, and the default policy."""
        conn = self.admin()
        for dn in USERS:
            assert conn.extend.standard.modify_password(dn, new_password=USER_OLD), conn.result
        self.policy_min_length(MIN_LENGTH, conn=conn)
        conn.unbind()

    def policy_min_length(self, length: int, *, conn: Connection | None = None) -> None:
        admin = conn or self.admin()
        assert admin.modify(POLICY, {"pwdMinLength": [(MODIFY_REPLACE, [str(length)])]})
        if conn is None:
            admin.unbind()

    def stored_password(self, dn: str) -> bytes:
        conn = self.admin()
        conn.search(dn, "(objectClass=*)", search_scope=BASE, attributes=["userPassword"])
        value = conn.response[0]["raw_attributes"]["userPassword"][0]
        conn.unbind()
        return value

    def stop(self) -> None:
        try:
            if self.process is not None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=15)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    slapd = PrivateSlapd()
    slapd.start()
    yield slapd
    slapd.stop()


@pytest.fixture(scope="module")
def tls_server():
    slapd = PrivateSlapd(tls=True)
    slapd.start()
    yield slapd
    slapd.stop()


@pytest.fixture
def directory(server):
    server.reset()
    return server


def binds(server: PrivateSlapd, dn: str, password: str, *, port: int = 0) -> bool:
    """A simple bind straight through ldap3: the independent witness of what the server holds."""
    conn = Connection(Server("127.0.0.1", port=port or server.port), dn, password)
    try:
        return conn.bind()
    finally:
        conn.unbind()


def endpoint_of(server: PrivateSlapd, **overrides) -> Endpoint:
    fields = {
        "host": "127.0.0.1",
        "port": server.port,
        "base_dn": SUFFIX,
        "tls_mode": "none",
        "connect_timeout": 5,
    }
    return Endpoint(**{**fields, **overrides})


def fresh_secret() -> str:
    """A new password each time: the policy's history also covers the rootDN's resets."""
    return f"New-User-Secret-{secrets.token_hex(8)}"


def apply(server: PrivateSlapd, *, username: str, new_secret: str = "", **overrides) -> str:
    new_secret = new_secret or fresh_secret()
    LdapConnector().apply(
        endpoint_of(server, **overrides),
        privileged_username=ROTATOR,
        privileged_secret=ROTATOR_SECRET,
        username=username,
        new_secret=new_secret,
    )
    return new_secret


@pytest.fixture
def world(directory, client_a, alice):
    """jdoe's credential (a plain uid) and the rotator's, a target and an open task."""
    return target_world(
        client=client_a,
        actor=alice,
        connector="ldap",
        port=directory.port,
        account=("Directory user jdoe", "jdoe", USER_OLD),
        privileged=("Directory rotator", ROTATOR, ROTATOR_SECRET),
        base_dn=SUFFIX,
        tls_mode="none",
    )


def events(outcome="success"):
    return AuditEvent.objects.filter(action=ACTION, outcome=outcome)


def assert_failed_and_audited(task, credential, server, *, reason: str) -> None:
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.FAILED
    assert attempt.failed_step == "apply"
    assert reason in attempt.error
    assert opened(credential, "secret") == USER_OLD
    assert binds(server, JDOE, USER_OLD)
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert events("error").count() == 1
    assert events().count() == 0
    event = events("error").get()
    assert event.details["connector"] == "ldap"
    assert reason in event.reason
    pending = opened_pending(attempt)
    for value in (pending, USER_OLD, ROTATOR_SECRET):
        assert value not in str(event.details) + event.reason + attempt.error


def opened_pending(attempt: RotationAttempt) -> str:
    return automation._pending_secret(attempt)


def test_the_registry_knows_the_ldap_connector():
    connector = connector_for("ldap")
    assert isinstance(connector, LdapConnector)
    assert (connector.kind, connector.default_port) == ("ldap", 389)
    assert connector.needs == ("base_dn", "tls_mode")
    assert "base_dn" in connector.required


def test_rotation_changes_the_password_in_the_directory_and_promotes_it(directory, pat, world):
    credential, _, _, task = world
    before = directory.stored_password(JDOE)
    attempt = rotation_automated_run(actor=pat, task=task)
    attempt.refresh_from_db()
    assert attempt.status == RotationAttempt.Status.PROMOTED
    new = opened(credential, "secret")
    assert new != USER_OLD
    assert new == opened_pending(attempt)
    assert binds(directory, JDOE, new)
    assert not binds(directory, JDOE, USER_OLD)
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.DONE
    # slapd hashed it (the Password Modify operation), never stored the plaintext.
    stored = directory.stored_password(JDOE)
    assert stored != before
    assert stored.startswith(b"{SSHA}")
    assert new.encode() not in stored
    # Nobody else's password moved.
    assert binds(directory, ASMITH, USER_OLD)
    assert events().count() == 1
    assert events("error").count() == 0
    event = events().get()
    assert event.details["connector"] == "ldap"
    assert event.details["step"] == "promote"
    dump = str(event.details) + event.reason
    for value in (new, USER_OLD, ROTATOR_SECRET):
        assert value not in dump


def test_an_account_named_by_its_dn_is_rotated_and_verified(directory):
    new = apply(directory, username=ASMITH)
    LdapConnector().verify(endpoint_of(directory), username=ASMITH, new_secret=new)
    assert binds(directory, ASMITH, new)
    assert not binds(directory, ASMITH, USER_OLD)
    assert binds(directory, JDOE, USER_OLD)


def test_an_account_named_by_its_uid_is_found_under_the_base_dn(directory):
    new = apply(directory, username="asmith")
    LdapConnector().verify(endpoint_of(directory), username="asmith", new_secret=new)
    assert binds(directory, ASMITH, new)
    with pytest.raises(ConnectorError, match="new password was refused"):
        LdapConnector().verify(endpoint_of(directory), username="asmith", new_secret=USER_OLD)


def test_applying_the_same_secret_again_is_idempotent(directory):
    new = apply(directory, username="jdoe")
    # slapd's policy refuses "no change"; the connector sees the secret already binds.
    apply(directory, username="jdoe", new_secret=new)
    assert binds(directory, JDOE, new)


def test_an_unknown_uid_fails_clearly(directory):
    with pytest.raises(ConnectorError, match="has no account “nobody” under “dc=keyhold"):
        apply(directory, username="nobody")
    with pytest.raises(ConnectorError, match="has no account “nobody”"):
        LdapConnector().verify(endpoint_of(directory), username="nobody", new_secret=fresh_secret())


def test_an_unknown_dn_fails_clearly(directory):
    with pytest.raises(ConnectorError, match="has no account “uid=ghost"):
        apply(directory, username=f"uid=ghost,{PEOPLE}")


def test_an_ambiguous_uid_fails_clearly_and_changes_nothing(directory):
    with pytest.raises(ConnectorError, match=r"several accounts “twin”.*full DN"):
        apply(directory, username="twin")
    assert all(binds(directory, dn, USER_OLD) for dn in TWINS)


@pytest.mark.parametrize("uid", ["*)(uid=*", "*", "jdoe)(|(uid=*", "j*", "ops*"])
def test_filter_metacharacters_in_a_uid_are_escaped_and_match_nobody(directory, uid):
    with pytest.raises(ConnectorError, match="has no account"):
        apply(directory, username=uid)
    assert all(binds(directory, dn, USER_OLD) for dn in USERS)


def test_a_uid_holding_filter_metacharacters_finds_exactly_its_account(directory):
    assert uid_filter(ODD_UID) == "(uid=ops\\2a\\28night\\29\\5cshift)"
    new = apply(directory, username=ODD_UID)
    LdapConnector().verify(endpoint_of(directory), username=ODD_UID, new_secret=new)
    assert binds(directory, ODD, new)
    assert binds(directory, JDOE, USER_OLD)


def test_a_malformed_dn_is_taken_as_a_uid_and_a_privileged_username_must_be_a_dn(directory):
    with pytest.raises(ConnectorError, match="has no account “uid=jdoe,,=bad”"):
        apply(directory, username="uid=jdoe,,=bad")
    with pytest.raises(ConnectorError, match="needs its bind DN as its username"):
        LdapConnector().check(
            endpoint_of(directory), privileged_username="rotator", privileged_secret="x"
        )


def test_wrong_privileged_password_fails_the_task_with_a_reason(directory, pat, alice, world):
    from vault.services import credential_update

    credential, privileged, _, task = world
    credential_update(actor=alice, credential=privileged, secret="Not-The-Rotator-Password-1")
    with pytest.raises(ConnectorError, match="privileged password was refused"):
        rotation_automated_run(actor=pat, task=task)
    assert_failed_and_audited(task, credential, directory, reason="privileged password was refused")
    assert "Not-The-Rotator-Password-1" not in events("error").get().reason


def test_an_unreachable_directory_fails_the_task_with_a_reason(directory, pat, world):
    credential, _, target, task = world
    RotationTarget.objects.filter(pk=target.pk).update(port=free_port())
    with pytest.raises(ConnectorError, match=r"could not reach.*nothing answered"):
        rotation_automated_run(actor=pat, task=task)
    assert_failed_and_audited(task, credential, directory, reason="nothing answered")


def test_a_password_the_policy_refuses_fails_the_task_with_the_servers_reason(
    directory, pat, world
):
    credential, _, _, task = world
    # Longer than any generated password (RotationPolicy.password_length is at most 128).
    directory.policy_min_length(200)
    with pytest.raises(ConnectorError, match="password policy does not allow it"):
        rotation_automated_run(actor=pat, task=task)
    assert_failed_and_audited(
        task, credential, directory, reason="Password fails quality checking policy"
    )


def test_an_account_the_rotator_may_not_write_fails_with_insufficient_access(directory):
    with pytest.raises(ConnectorError, match="may not change the password of “boss”"):
        apply(directory, username="boss")
    assert binds(directory, BOSS, USER_OLD)


def test_a_server_that_never_answers_times_out_with_a_reason():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        endpoint = Endpoint(
            host="127.0.0.1",
            port=silent.getsockname()[1],
            base_dn=SUFFIX,
            tls_mode="none",
            connect_timeout=1,
        )
        with pytest.raises(ConnectorError, match="timed out"):
            LdapConnector().check(
                endpoint, privileged_username=ROTATOR, privileged_secret=ROTATOR_SECRET
            )


def test_check_is_a_dry_run_that_changes_nothing(directory):
    connector = LdapConnector()
    rotator_before = directory.stored_password(ROTATOR)
    users_before = {dn: directory.stored_password(dn) for dn in USERS}
    connector.check(
        endpoint_of(directory), privileged_username=ROTATOR, privileged_secret=ROTATOR_SECRET
    )
    with pytest.raises(ConnectorError, match="privileged password was refused"):
        connector.check(
            endpoint_of(directory), privileged_username=ROTATOR, privileged_secret="wrong"
        )
    with pytest.raises(ConnectorError, match="no entry at the base DN “dc=elsewhere,dc=test”"):
        connector.check(
            endpoint_of(directory, base_dn="dc=elsewhere,dc=test"),
            privileged_username=ROTATOR,
            privileged_secret=ROTATOR_SECRET,
        )
    assert directory.stored_password(ROTATOR) == rotator_before
    assert {dn: directory.stored_password(dn) for dn in USERS} == users_before
    assert binds(directory, JDOE, USER_OLD)


def test_an_unknown_tls_mode_is_refused_before_connecting():
    with pytest.raises(ConnectorError, match="Unknown TLS mode “ssl”"):
        LdapConnector().check(
            Endpoint(host="127.0.0.1", port=1, base_dn=SUFFIX, tls_mode="ssl"),
            privileged_username=ROTATOR,
            privileged_secret=ROTATOR_SECRET,
        )


def test_starttls_against_a_server_without_tls_fails_with_a_clear_message(directory):
    # Blank TLS mode means StartTLS, the LDAP connector's default.
    with pytest.raises(ConnectorError, match=r"refused StartTLS.*did not send any password"):
        apply(directory, username="jdoe", tls_mode="")
    assert binds(directory, JDOE, USER_OLD)


def test_ldaps_against_a_plain_port_fails_with_a_clear_message(directory):
    with pytest.raises(
        ConnectorError,
        match=r"TLS with the LDAP server at .* failed: the server did not complete a TLS",
    ):
        apply(directory, username="jdoe", tls_mode="tls")
    assert binds(directory, JDOE, USER_OLD)


def test_starttls_and_ldaps_rotate_when_the_certificate_is_trusted(tls_server, monkeypatch):
    tls_server.reset()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    connector = LdapConnector()
    starttls = endpoint_of(tls_server, tls_mode="starttls")
    ldaps = endpoint_of(tls_server, port=tls_server.tls_port, tls_mode="tls")
    connector.check(starttls, privileged_username=ROTATOR, privileged_secret=ROTATOR_SECRET)
    connector.check(ldaps, privileged_username=ROTATOR, privileged_secret=ROTATOR_SECRET)
    jdoe = apply(tls_server, username="jdoe", tls_mode="starttls")
    connector.verify(starttls, username="jdoe", new_secret=jdoe)
    asmith = apply(tls_server, username="asmith", port=tls_server.tls_port, tls_mode="tls")
    connector.verify(ldaps, username=ASMITH, new_secret=asmith)
    assert binds(tls_server, JDOE, jdoe)
    assert binds(tls_server, ASMITH, asmith)
    assert not binds(tls_server, JDOE, USER_OLD)


def test_an_untrusted_or_misnamed_certificate_fails_with_a_clear_message(tls_server, monkeypatch):
    tls_server.reset()
    # The system's trusted CAs do not include the test CA.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(ConnectorError, match="certificate is not trusted"):
        apply(tls_server, username="jdoe", tls_mode="starttls")
    with pytest.raises(ConnectorError, match="certificate is not trusted"):
        apply(tls_server, username="jdoe", port=tls_server.tls_port, tls_mode="tls")
    # Trusted, but issued for 127.0.0.1 only.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    with pytest.raises(ConnectorError, match="does not name the host “localhost”"):
        apply(tls_server, username="jdoe", host="localhost", tls_mode="starttls")
    assert binds(tls_server, JDOE, USER_OLD)
