"""Automated rotation of a MariaDB user against a real, private MariaDB server.

The machine's own MariaDB is not touched: the module installs a throwaway data directory
(mariadb-install-db), runs mariadbd on a free loopback port and its own socket with name
resolution off, and stops it afterwards. The user `app` has three host entries, each
reached its own way: '127.0.0.1' over TCP from 127.0.0.1, 'localhost' over the socket,
and '%' over TCP from 127.0.0.2. Keyhold's own database is separate, so these run on
SQLite too.

Action covered here, with exactly one event per run: rotation.automated_attempted (success
and error outcomes).
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql
import pytest

from audit.models import AuditEvent
from rotation.connectors import ConnectorError, connector_for
from rotation.connectors.base import Endpoint
from rotation.connectors.mariadb import MariaDBConnector
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from rotation.services import automation
from rotation.services.automation import rotation_automated_run
from tests.rotation.automation_support import free_port, target_world
from tests.vault.test_credentials import opened

USER = "app"
OLD = "Old-App-Secret-7731"
NEW = "New-App-Secret-8842!"
HOSTS = ("127.0.0.1", "localhost", "%")
ROTATOR = "keyhold_rotator"
ROTATOR_SECRET = "Rotator-Secret-5519"
READER = "keyhold_reader"
READER_SECRET = "Reader-Secret-6620"
VIEWER = "keyhold_viewer"
VIEWER_SECRET = "Viewer-Secret-3302"
UPDATER = "keyhold_updater"
UPDATER_SECRET = "Updater-Secret-4471"
ROLE_HOLDER = "keyhold_role_holder"
ROLE_HOLDER_SECRET = "Role-Holder-Secret-2290"
ACTION = "rotation.automated_attempted"
OTHER_USERS = ("edapp", "mixed", "ghost")


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )


class PrivateMariaDB:
    """A throwaway server: root over its own socket without a password, the rest over TCP."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="keyhold-mariadb-"))
        self.data = self.root / "data"
        self.socket = self.root / "sock"
        self.general_log = self.root / "general.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_start = 0
        # mariadbd will not run as root; as root it drops to the mysql user itself.
        self.as_user = ["--user=mysql"] if os.geteuid() == 0 else []
        if self.as_user:
            owner = pwd.getpwnam("mysql")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def start(self) -> None:
        subprocess.run(
            [
                _binary("mariadb-install-db"),
                "--no-defaults",
                *self.as_user,
                f"--datadir={self.data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.process = subprocess.Popen(
            [
                _binary("mariadbd"),
                "--no-defaults",
                *self.as_user,
                f"--datadir={self.data}",
                f"--socket={self.socket}",
                f"--pid-file={self.root / 'pid'}",
                "--bind-address=127.0.0.1",
                f"--port={self.port}",
                "--skip-name-resolve",
                f"--log-error={self.root / 'error.log'}",
                "--general-log",
                f"--general-log-file={self.general_log}",
                "--innodb-buffer-pool-size=16M",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.root_connection().close()
                break
            except pymysql.Error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("The private mariadbd did not start.") from None
                time.sleep(0.1)
        self.sql("INSTALL SONAME 'auth_ed25519'")
        for name, secret in (
            (ROTATOR, ROTATOR_SECRET),
            (READER, READER_SECRET),
            (VIEWER, VIEWER_SECRET),
            (UPDATER, UPDATER_SECRET),
            (ROLE_HOLDER, ROLE_HOLDER_SECRET),
        ):
            self.sql(f"CREATE USER {name}@'127.0.0.1' IDENTIFIED BY '{secret}'")
        self.sql(f"GRANT SELECT ON mysql.global_priv TO {READER}@'127.0.0.1'")
        self.sql(f"GRANT UPDATE, SELECT ON mysql.* TO {UPDATER}@'127.0.0.1'")
        self.sql("CREATE ROLE keyhold_rotation")
        self.sql("GRANT CREATE USER ON *.* TO keyhold_rotation")
        self.sql("GRANT SELECT ON mysql.global_priv TO keyhold_rotation")
        self.sql(f"GRANT keyhold_rotation TO {ROLE_HOLDER}@'127.0.0.1'")
        self.sql(f"SET DEFAULT ROLE keyhold_rotation FOR {ROLE_HOLDER}@'127.0.0.1'")
        self.grant_rotator()

    def grant_rotator(self) -> None:
        self.sql(f"GRANT CREATE USER ON *.* TO {ROTATOR}@'127.0.0.1'")
        self.sql(f"GRANT SELECT ON mysql.global_priv TO {ROTATOR}@'127.0.0.1'")

    def root_connection(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            unix_socket=str(self.socket), user="root", password="", autocommit=True
        )

    def sql(self, statement: str, args: tuple | None = None) -> list[tuple]:
        with self.root_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, args)
            return list(cursor.fetchall())

    def reset(self) -> None:
        """The user `app` on its three host entries with the old password, and no policy."""
        if self.sql(
            "SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'simple_password_check'"
        ):
            self.sql("UNINSTALL SONAME 'simple_password_check'")
        for user, host in self.sql(
            "SELECT User, Host FROM mysql.global_priv WHERE User IN (%s, %s, %s, %s)",
            (USER, *OTHER_USERS),
        ):
            self.sql("DROP USER %s@%s", (user, host))
        for host in HOSTS:
            self.sql(f"CREATE USER {USER}@'{host}' IDENTIFIED BY '{OLD}'")
        self.grant_rotator()
        self.log_start = self.general_log.stat().st_size

    def stored(self, user: str = USER) -> dict[str, str]:
        rows = self.sql(
            "SELECT Host, JSON_VALUE(Priv, '$.authentication_string') FROM mysql.global_priv "
            "WHERE User = %s",
            (user,),
        )
        return dict(rows)

    def native_hash(self, password: str) -> str:
        """The server's own PASSWORD(): the oracle for what each entry should store."""
        return self.sql("SELECT PASSWORD(%s)", (password,))[0][0]

    def accounts(self) -> list[tuple]:
        return self.sql("SELECT User, Host, Priv FROM mysql.global_priv ORDER BY User, Host")

    def logged(self) -> str:
        """The general log since the last reset: every statement the server received."""
        with self.general_log.open("rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")

    def stop(self) -> None:
        try:
            if self.process is not None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=30)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    missing = [n for n in ("mariadb-install-db", "mariadbd") if _binary(n) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} (mariadb-server) missing; scripts/test.sh installs it.")
    private = PrivateMariaDB()
    try:
        private.start()
        yield private
    finally:
        private.stop()


@pytest.fixture
def mdb(server):
    server.reset()
    return server


def signed_in_as(mdb, password: str, *, host: str, user: str = USER) -> str | None:
    """CURRENT_USER() after signing in through the way that reaches the `host` entry."""
    where = {
        "127.0.0.1": {"host": "127.0.0.1", "port": mdb.port},
        "localhost": {"unix_socket": str(mdb.socket)},
        "%": {"host": "127.0.0.1", "port": mdb.port, "bind_address": "127.0.0.2"},
    }[host]
    try:
        conn = pymysql.connect(user=user, password=password, connect_timeout=5, **where)
    except pymysql.err.OperationalError as error:
        if error.args[0] == 1045:
            return None
        raise
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        return cursor.fetchone()[0]


def logs_in_everywhere(mdb, password: str) -> dict[str, bool]:
    """Per host entry: did the password sign in, landing on exactly that entry?"""
    result = {}
    for host in HOSTS:
        landed = signed_in_as(mdb, password, host=host)
        assert landed in (None, f"{USER}@{host}")
        result[host] = landed is not None
    return result


EVERYWHERE = dict.fromkeys(HOSTS, True)
NOWHERE = dict.fromkeys(HOSTS, False)


def endpoint_of(mdb, **overrides) -> Endpoint:
    return Endpoint(**{"host": "127.0.0.1", "port": mdb.port, **overrides})


@pytest.fixture
def world(mdb, client_a, alice, pat):
    """The user's credential and the privileged one (client A), a target and an open task."""
    return target_world(
        client=client_a,
        actor=alice,
        connector="mariadb",
        port=mdb.port,
        account=("Shop DB user", USER, OLD),
        privileged=("MariaDB rotator", ROTATOR, ROTATOR_SECRET),
    )


def events(outcome="success"):
    return AuditEvent.objects.filter(action=ACTION, outcome=outcome)


def test_the_registry_finds_the_mariadb_connector():
    connector = connector_for("mariadb")
    assert isinstance(connector, MariaDBConnector)
    assert (connector.kind, connector.default_port) == ("mariadb", 3306)
    assert "CREATE USER" in connector.privileged_help


def test_rotation_changes_every_host_entry_and_promotes_the_secret(mdb, pat, world):
    credential, _, _, task = world
    assert logs_in_everywhere(mdb, OLD) == EVERYWHERE

    attempt = rotation_automated_run(actor=pat, task=task)

    attempt.refresh_from_db()
    assert attempt.status == RotationAttempt.Status.PROMOTED
    new = opened(credential, "secret")
    assert new != OLD
    assert logs_in_everywhere(mdb, new) == EVERYWHERE
    assert logs_in_everywhere(mdb, OLD) == NOWHERE
    # Only the client-side hash travelled: the plaintext is not in the server's general log.
    assert "IDENTIFIED BY PASSWORD" in mdb.logged()
    assert new not in mdb.logged()
    assert mdb.stored() == dict.fromkeys(HOSTS, mdb.native_hash(new))
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.DONE
    assert events().count() == 1
    assert events("error").count() == 0
    event = events().get()
    assert event.details["connector"] == "mariadb"
    assert event.details["attempt_id"] == str(attempt.pk)
    dump = str(event.details) + event.reason
    for value in (new, OLD, ROTATOR_SECRET):
        assert value not in dump


def test_wrong_privileged_password_fails_with_a_reason_and_keeps_the_old_password(
    mdb, pat, alice, world
):
    credential, privileged, _, task = world
    from vault.services import credential_update

    credential_update(actor=alice, credential=privileged, secret="Not-The-Rotator-Password-1")
    with pytest.raises(ConnectorError, match="privileged password was refused"):
        rotation_automated_run(actor=pat, task=task)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.FAILED
    assert attempt.failed_step == "apply"
    assert "privileged password was refused" in attempt.error
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert opened(credential, "secret") == OLD
    assert logs_in_everywhere(mdb, OLD) == EVERYWHERE
    assert events().count() == 0
    assert events("error").count() == 1
    event = events("error").get()
    assert event.details["step"] == "apply"
    assert "privileged password was refused" in event.reason
    assert "Not-The-Rotator-Password-1" not in str(event.details) + event.reason


def test_unreachable_port_fails_with_a_reason(mdb, pat, world):
    credential, _, target, task = world
    RotationTarget.objects.filter(pk=target.pk).update(port=free_port())
    with pytest.raises(ConnectorError, match=r"could not reach MariaDB .* nothing answered"):
        rotation_automated_run(actor=pat, task=task)
    assert "could not reach" in RotationAttempt.objects.get(task=task).error
    assert opened(credential, "secret") == OLD
    assert events("error").count() == 1


def test_a_server_that_never_answers_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        endpoint = Endpoint(host="127.0.0.1", port=listener.getsockname()[1], connect_timeout=1)
        with pytest.raises(ConnectorError, match="timed out"):
            MariaDBConnector().check(
                endpoint, privileged_username=ROTATOR, privileged_secret=ROTATOR_SECRET
            )


def test_a_password_the_server_policy_refuses_fails_with_a_reason_and_keeps_the_old(
    mdb, pat, world
):
    credential, _, _, task = world
    mdb.sql("INSTALL SONAME 'simple_password_check'")
    mdb.sql("SET GLOBAL simple_password_check_minimal_length = 100")
    try:
        with pytest.raises(ConnectorError, match="password policy"):
            rotation_automated_run(actor=pat, task=task)
    finally:
        mdb.sql("SET GLOBAL simple_password_check_minimal_length = 8")
    attempt = RotationAttempt.objects.get(task=task)
    pending = automation._pending_secret(attempt)
    assert attempt.failed_step == "apply"
    assert "does not meet the server's password policy" in attempt.error
    assert "Too short password" in attempt.error
    assert pending not in attempt.error
    assert opened(credential, "secret") == OLD
    assert logs_in_everywhere(mdb, OLD) == EVERYWHERE
    event = events("error").get()
    assert "password policy" in event.reason
    assert pending not in str(event.details) + event.reason


def test_with_a_policy_plugin_active_the_password_is_sent_for_it_to_judge(mdb):
    mdb.sql("INSTALL SONAME 'simple_password_check'")
    mdb.sql(f"CREATE USER edapp@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{OLD}')")
    connector = MariaDBConnector()
    for user in (USER, "edapp"):
        connector.apply(
            endpoint_of(mdb),
            privileged_username=ROTATOR,
            privileged_secret=ROTATOR_SECRET,
            username=user,
            new_secret=NEW,
        )
    # A pre-hashed password would have been refused under strict_password_validation.
    assert mdb.stored() == dict.fromkeys(HOSTS, mdb.native_hash(NEW))
    assert logs_in_everywhere(mdb, NEW) == EVERYWHERE
    assert signed_in_as(mdb, NEW, host="%", user="edapp") == "edapp@%"
    assert signed_in_as(mdb, OLD, host="%", user="edapp") is None


def test_check_is_a_dry_run_that_changes_nothing(mdb):
    before = mdb.accounts()
    MariaDBConnector().check(
        endpoint_of(mdb), privileged_username=ROTATOR, privileged_secret=ROTATOR_SECRET
    )
    assert mdb.accounts() == before
    assert "ALTER USER" not in mdb.logged()
    assert logs_in_everywhere(mdb, OLD) == EVERYWHERE


@pytest.mark.parametrize(
    ("username", "secret", "message"),
    [
        (VIEWER, VIEWER_SECRET, "may not read the list of users .* SELECT on mysql.global_priv"),
        (READER, READER_SECRET, "may not change passwords .* CREATE USER privilege"),
        (ROTATOR, "wrong", "privileged password was refused"),
    ],
)
def test_check_without_the_rights_fails_clearly(mdb, username, secret, message):
    with pytest.raises(ConnectorError, match=message):
        MariaDBConnector().check(
            endpoint_of(mdb), privileged_username=username, privileged_secret=secret
        )


@pytest.mark.parametrize(
    ("username", "secret"),
    [(UPDATER, UPDATER_SECRET), (ROLE_HOLDER, ROLE_HOLDER_SECRET)],
    ids=["update-on-mysql", "rights-through-default-role"],
)
def test_other_ways_of_holding_the_right_pass_the_check_and_rotate(mdb, username, secret):
    connector = MariaDBConnector()
    connector.check(endpoint_of(mdb), privileged_username=username, privileged_secret=secret)
    connector.apply(
        endpoint_of(mdb),
        privileged_username=username,
        privileged_secret=secret,
        username=USER,
        new_secret=NEW,
    )
    assert logs_in_everywhere(mdb, NEW) == EVERYWHERE


def test_a_failed_verify_then_a_retry_promotes_the_same_pending_secret(mdb, pat, world):
    credential, _, _, task = world
    mdb.sql(f"ALTER USER {USER}@'127.0.0.1' ACCOUNT LOCK")
    with pytest.raises(ConnectorError, match="account “app” is locked"):
        rotation_automated_run(actor=pat, task=task)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.FAILED
    assert attempt.failed_step == "verify"
    assert attempt.applied_at is not None
    pending = automation._pending_secret(attempt)
    assert mdb.stored() == dict.fromkeys(HOSTS, mdb.native_hash(pending))
    assert opened(credential, "secret") == OLD

    mdb.sql(f"ALTER USER {USER}@'127.0.0.1' ACCOUNT UNLOCK")
    resumed = rotation_automated_run(actor=pat, task=task)

    assert resumed.pk == attempt.pk
    assert RotationAttempt.objects.filter(task=task).count() == 1
    assert opened(credential, "secret") == pending
    assert logs_in_everywhere(mdb, pending) == EVERYWHERE
    assert events("error").count() == 1
    assert events().count() == 1
    assert events().get().details["resumed"] is True


def test_a_missing_right_then_a_retry_promotes_the_same_pending_secret(mdb, pat, world):
    credential, _, _, task = world
    mdb.sql(f"REVOKE CREATE USER ON *.* FROM {ROTATOR}@'127.0.0.1'")
    with pytest.raises(ConnectorError, match="may not change passwords"):
        rotation_automated_run(actor=pat, task=task)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.failed_step == "apply"
    assert "CREATE USER privilege" in attempt.error
    pending = automation._pending_secret(attempt)
    assert logs_in_everywhere(mdb, OLD) == EVERYWHERE

    mdb.grant_rotator()
    rotation_automated_run(actor=pat, task=task)

    assert RotationAttempt.objects.get(task=task).status == RotationAttempt.Status.PROMOTED
    assert opened(credential, "secret") == pending
    assert logs_in_everywhere(mdb, pending) == EVERYWHERE
    assert logs_in_everywhere(mdb, OLD) == NOWHERE


def test_applying_the_same_secret_again_changes_nothing(mdb):
    connector = MariaDBConnector()
    arguments = {
        "privileged_username": ROTATOR,
        "privileged_secret": ROTATOR_SECRET,
        "username": USER,
        "new_secret": NEW,
    }
    connector.apply(endpoint_of(mdb), **arguments)
    altered = mdb.logged().count("ALTER USER")
    assert altered == len(HOSTS)
    connector.apply(endpoint_of(mdb), **arguments)
    assert mdb.logged().count("ALTER USER") == altered
    assert logs_in_everywhere(mdb, NEW) == EVERYWHERE


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("app'", "characters Keyhold will not put into SQL"),
        ("app\\", "characters Keyhold will not put into SQL"),
        ("app\nx", "characters Keyhold will not put into SQL"),
        ("app' OR '1'='1", "characters Keyhold will not put into SQL"),
        ("app@localhost", "without “@host”"),
        ("", "no username"),
    ],
)
def test_unsafe_usernames_are_refused_before_any_sql(username, message):
    # Nothing listens on the port: reaching it would say so, so the refusal came first.
    endpoint = Endpoint(host="127.0.0.1", port=free_port())
    with pytest.raises(ConnectorError, match=message):
        MariaDBConnector().apply(
            endpoint,
            privileged_username=ROTATOR,
            privileged_secret=ROTATOR_SECRET,
            username=username,
            new_secret=NEW,
        )


def test_an_unsafe_username_fails_the_attempt_with_a_reason(mdb, pat, world):
    credential, _, _, task = world
    type(credential).objects.filter(pk=credential.pk).update(username="app'; DROP USER root")
    task.credential.refresh_from_db()
    with pytest.raises(ConnectorError, match="will not put into SQL"):
        rotation_automated_run(actor=pat, task=task)
    assert "will not put into SQL" in RotationAttempt.objects.get(task=task).error
    assert mdb.sql("SELECT 1 FROM mysql.global_priv WHERE User = 'root'")
    assert "DROP USER root" not in mdb.logged()


def test_a_user_with_no_host_entry_is_no_account(mdb):
    with pytest.raises(ConnectorError, match="has no user “ghost”"):
        MariaDBConnector().apply(
            endpoint_of(mdb),
            privileged_username=ROTATOR,
            privileged_secret=ROTATOR_SECRET,
            username="ghost",
            new_secret=NEW,
        )


@pytest.mark.parametrize(
    ("localhost_entry", "message"),
    [
        ("IDENTIFIED VIA unix_socket", "signs in with unix_socket"),
        (
            f"IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('{OLD}')",
            "signs in by several methods",
        ),
    ],
)
def test_an_entry_keyhold_cannot_set_stops_the_run_with_nothing_changed(
    mdb, localhost_entry, message
):
    mdb.sql(f"CREATE USER mixed@'127.0.0.1' IDENTIFIED BY '{OLD}'")
    mdb.sql(f"CREATE USER mixed@'localhost' {localhost_entry}")
    before = mdb.stored("mixed")
    with pytest.raises(ConnectorError, match=f"{message}.*Nothing was changed"):
        MariaDBConnector().apply(
            endpoint_of(mdb),
            privileged_username=ROTATOR,
            privileged_secret=ROTATOR_SECRET,
            username="mixed",
            new_secret=NEW,
        )
    assert mdb.stored("mixed") == before
    assert signed_in_as(mdb, OLD, host="127.0.0.1", user="mixed") == "mixed@127.0.0.1"


def test_an_ed25519_user_gets_a_public_key_and_never_the_plaintext(mdb):
    mdb.sql(f"CREATE USER edapp@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{OLD}')")
    connector = MariaDBConnector()
    connector.apply(
        endpoint_of(mdb),
        privileged_username=ROTATOR,
        privileged_secret=ROTATOR_SECRET,
        username="edapp",
        new_secret=NEW,
    )
    connector.verify(endpoint_of(mdb), username="edapp", new_secret=NEW)
    assert signed_in_as(mdb, OLD, host="%", user="edapp") is None
    plugin = mdb.sql(
        "SELECT JSON_VALUE(Priv, '$.plugin') FROM mysql.global_priv WHERE User = 'edapp'"
    )
    assert plugin == [("ed25519",)]
    assert NEW not in mdb.logged()
    with pytest.raises(ConnectorError, match="the new password was refused"):
        connector.verify(endpoint_of(mdb), username="edapp", new_secret=OLD)
