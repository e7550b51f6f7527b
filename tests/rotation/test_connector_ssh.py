"""Automated rotation of a Linux local account over SSH against a real, private sshd.

The module starts its own sshd (its own host key, a free loopback port, password logins
through PAM) and creates Linux users with random khtest_ names: the account rotated, an
admin whose sudoers rule allows only /usr/sbin/chpasswd, an account with no sudo rule, an
account that may not log in by password, and one under a password history policy. root
logs in by a key generated here. Everything is removed afterwards, also on failure.

Action covered here, with exactly one event per run: rotation.automated_attempted.
"""

import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paramiko
import pytest

from audit.models import AuditEvent
from rotation.connectors import ConnectorError, connector_for
from rotation.connectors.base import Endpoint
from rotation.connectors.ssh import SshConnector, host_key_fetch, host_key_fingerprint
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from rotation.services.automation import rotation_automated_run
from tests.rotation.automation_support import free_port, target_world
from tests.vault.test_credentials import opened

SSHD = "/usr/sbin/sshd"
ACTION = "rotation.automated_attempted"
TARGET_OLD = "Old-Linux-Secret-4471"
ADMIN_SECRET = "Admin-Linux-Secret-8823"
OUTSIDER_SECRET = "Outsider-Linux-Secret-3190"
PAM_CHPASSWD = Path("/etc/pam.d/chpasswd")
OPASSWD = Path("/etc/security/opasswd")


def _run(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        list(args), input=stdin, text=True, check=True, capture_output=True, timeout=60
    ).stdout


def _keygen(path: Path) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "keyhold-test", "-f", str(path))


def _userdel(user: str) -> bool:
    """Delete a test user; a session process of a login that just closed may still hold it."""
    deadline = time.monotonic() + 10
    while True:
        result = subprocess.run(["userdel", "-r", user], capture_output=True, check=False)
        # 6: no such user (already gone); 8: one of its processes is still running.
        if result.returncode in (0, 6):
            return True
        if result.returncode != 8 or time.monotonic() > deadline:
            return False
        time.sleep(0.2)


class PrivateSshd:
    """A throwaway sshd on 127.0.0.1 and the Linux users it lets in."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="keyhold-sshd-"))
        self.port = free_port()
        prefix = f"khtest_{secrets.token_hex(4)}"
        self.target = f"{prefix}_t"
        self.admin = f"{prefix}_a"
        self.outsider = f"{prefix}_n"
        self.keyonly = f"{prefix}_k"
        self.policy = f"{prefix}_p"
        self.prefix = prefix
        self.sudoers = Path(f"/etc/sudoers.d/keyhold_test_{prefix}")
        self.users: list[str] = []
        self.process: subprocess.Popen | None = None
        self.log = self.root / "sshd.log"

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        _keygen(self.root / "host_ed25519")
        _run(
            "ssh-keygen",
            "-q",
            "-t",
            "rsa",
            "-b",
            "2048",
            "-N",
            "",
            "-f",
            str(self.root / "host_rsa"),
        )
        _keygen(self.root / "other_ed25519")
        _keygen(self.root / "root_key")
        _keygen(self.root / "admin_key")
        # sshd reads a user's authorized keys as that user: it must traverse the temp dir.
        self.root.chmod(0o711)
        keys = self.root / "authorized_keys"
        keys.mkdir(mode=0o755)
        shutil.copy(self.root / "root_key.pub", keys / "root")
        shutil.copy(self.root / "admin_key.pub", keys / self.admin)
        for user in (self.target, self.admin, self.outsider, self.keyonly, self.policy):
            _run("useradd", "--create-home", "--shell", "/bin/sh", user)
            self.users.append(user)
        self.set_password(self.target, TARGET_OLD)
        self.set_password(self.admin, ADMIN_SECRET)
        self.set_password(self.outsider, OUTSIDER_SECRET)
        self.set_password(self.keyonly, TARGET_OLD)
        self.set_password(self.policy, TARGET_OLD)
        rule = self.root / "sudoers"
        rule.write_text(f"{self.admin} ALL=(root) /usr/sbin/chpasswd\n")
        _run("visudo", "-cf", str(rule))
        _run("install", "-m", "0440", "-o", "root", "-g", "root", str(rule), str(self.sudoers))
        config = self.root / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\n"
            f"Port {self.port}\n"
            f"HostKey {self.root / 'host_ed25519'}\n"
            f"HostKey {self.root / 'host_rsa'}\n"
            f"PidFile {self.root / 'sshd.pid'}\n"
            "PasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM yes\n"
            "PermitRootLogin prohibit-password\n"
            # The keys live in the temp dir, under /tmp (world-writable), not in a home.
            "StrictModes no\n"
            f"AuthorizedKeysFile {keys}/%u\n"
            f"AllowUsers root {self.prefix}_*\n"
            f"Match User {self.keyonly}\n"
            "    PasswordAuthentication no\n"
        )
        _run(SSHD, "-t", "-f", str(config))
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"sshd did not start: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"sshd did not answer on port {self.port}: {self.log.read_text()}")

    def set_password(self, user: str, password: str) -> None:
        _run("chpasswd", stdin=f"{user}:{password}\n")

    def stop(self) -> None:
        try:
            if self.process is not None:
                self.process.terminate()
                self.process.wait(timeout=10)
        finally:
            self.sudoers.unlink(missing_ok=True)
            left = [user for user in self.users if not _userdel(user)]
            shutil.rmtree(self.root, ignore_errors=True)
        assert left == [], f"userdel failed for {left}"

    def host_key(self, name: str = "host_ed25519") -> str:
        kind, blob, _ = (self.root / f"{name}.pub").read_text().split()
        return f"{kind} {blob}"

    def private_key(self, name: str) -> str:
        return (self.root / name).read_text()

    def endpoint(self, **overrides) -> Endpoint:
        return Endpoint(
            **{"host": "127.0.0.1", "port": self.port, "host_key": self.host_key(), **overrides}
        )


def shadow_line(user: str) -> str:
    for line in Path("/etc/shadow").read_text().splitlines():
        if line.startswith(f"{user}:"):
            return line
    raise AssertionError(f"{user} has no /etc/shadow line")


@pytest.fixture(scope="module")
def sshd():
    if not Path(SSHD).exists():
        pytest.fail("sshd (openssh-server) is missing; scripts/test.sh installs it.")
    server = PrivateSshd()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def ssh(sshd):
    """The rotated account starts every test with its old password."""
    sshd.set_password(sshd.target, TARGET_OLD)
    return sshd


def logs_in(sshd: PrivateSshd, password: str, user: str = "") -> bool:
    try:
        SshConnector().verify(sshd.endpoint(), username=user or sshd.target, new_secret=password)
    except ConnectorError:
        return False
    return True


@pytest.fixture
def world(ssh, client_a, alice):
    """Builds the account's credential, a privileged one, a target and an open task."""

    def build(*, privileged_username: str, privileged_secret: str):
        return target_world(
            client=client_a,
            actor=alice,
            connector="ssh",
            port=ssh.port,
            account=("web01 deploy account", ssh.target, TARGET_OLD),
            privileged=("web01 admin", privileged_username, privileged_secret),
            host_key=host_key_fetch(host="127.0.0.1", port=ssh.port),
        )

    return build


def events(outcome="success"):
    return AuditEvent.objects.filter(action=ACTION, outcome=outcome)


class ArgvWatch(threading.Thread):
    """Samples every process's argv on this machine (the private sshd runs here)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[bytes] = set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for path in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    self.seen.add(path.read_bytes())
                except OSError:
                    continue


@pytest.fixture
def commands(monkeypatch):
    """Records each command the connector sends, and still sends it."""
    sent: list[str] = []
    original = paramiko.Channel.exec_command

    def recording(channel, command):
        sent.append(command)
        return original(channel, command)

    monkeypatch.setattr(paramiko.Channel, "exec_command", recording)
    return sent


def test_the_registry_knows_the_ssh_connector():
    connector = connector_for("ssh")
    assert isinstance(connector, SshConnector)
    assert connector.required == ("host_key",)
    assert connector.default_port == 22


@pytest.mark.parametrize("privileged", ["sudo_password", "root_key"])
def test_rotation_changes_the_password_on_the_server_and_promotes_it(
    ssh, pat, world, commands, privileged
):
    if privileged == "sudo_password":
        credential, _, _, task = world(
            privileged_username=ssh.admin, privileged_secret=ADMIN_SECRET
        )
    else:
        credential, _, _, task = world(
            privileged_username="root", privileged_secret=ssh.private_key("root_key")
        )
    assert logs_in(ssh, TARGET_OLD)
    shadow_before = shadow_line(ssh.target)
    watch = ArgvWatch()
    watch.start()
    try:
        attempt = rotation_automated_run(actor=pat, task=task)
    finally:
        watch.done.set()
        watch.join()
    attempt.refresh_from_db()
    assert attempt.status == RotationAttempt.Status.PROMOTED
    new = opened(credential, "secret")
    assert new != TARGET_OLD
    assert logs_in(ssh, new)
    assert not logs_in(ssh, TARGET_OLD)
    assert shadow_line(ssh.target) != shadow_before
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.DONE
    assert events().count() == 1
    assert events("error").count() == 0
    event = events().get()
    assert event.details["connector"] == "ssh"
    assert event.details["attempt_id"] == str(attempt.pk)
    # The new password went on stdin: no command sent and no argv seen on this machine held it.
    assert any("/usr/sbin/chpasswd" in command for command in commands)
    for command in commands:
        assert new not in command
        assert ADMIN_SECRET not in command
    assert any(b"sshd" in argv for argv in watch.seen)
    assert not any(new.encode() in argv for argv in watch.seen)
    dump = str(event.details) + event.reason
    for value in (new, TARGET_OLD, ADMIN_SECRET):
        assert value not in dump


def test_a_changed_host_key_fails_with_both_fingerprints_and_changes_nothing(ssh, pat, world):
    credential, _, target, task = world(
        privileged_username=ssh.admin, privileged_secret=ADMIN_SECRET
    )
    pinned = ssh.host_key("other_ed25519")
    RotationTarget.objects.filter(pk=target.pk).update(host_key=pinned)
    shadow_before = shadow_line(ssh.target)
    expected = (
        f"The host key of 127.0.0.1:{ssh.port} changed ({host_key_fingerprint(pinned)} "
        f"expected, {host_key_fingerprint(ssh.host_key())} offered); if the server was "
        "rebuilt, confirm its new key on the target page."
    )
    with pytest.raises(ConnectorError) as raised:
        rotation_automated_run(actor=pat, task=task)
    assert raised.value.message == expected
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.FAILED
    assert attempt.failed_step == "apply"
    assert attempt.error == expected
    assert shadow_line(ssh.target) == shadow_before
    assert logs_in(ssh, TARGET_OLD)
    assert opened(credential, "secret") == TARGET_OLD
    assert events("error").count() == 1
    assert events("error").get().reason == expected
    assert events().count() == 0


def test_wrong_privileged_password_fails_with_a_reason_and_keeps_the_old_secret(
    ssh, pat, alice, world
):
    from vault.services import credential_update

    credential, privileged, _, task = world(
        privileged_username=ssh.admin, privileged_secret=ADMIN_SECRET
    )
    credential_update(actor=alice, credential=privileged, secret="Not-The-Admin-Password-1")
    with pytest.raises(ConnectorError, match="the privileged password was refused"):
        rotation_automated_run(actor=pat, task=task)
    assert RotationAttempt.objects.get(task=task).failed_step == "apply"
    assert opened(credential, "secret") == TARGET_OLD
    assert logs_in(ssh, TARGET_OLD)
    assert events("error").count() == 1
    event = events("error").get()
    assert "the privileged password was refused" in event.reason
    assert "Not-The-Admin-Password-1" not in str(event.details) + event.reason


def test_unreachable_port_fails_with_a_reason(ssh, pat, world):
    credential, _, target, task = world(
        privileged_username=ssh.admin, privileged_secret=ADMIN_SECRET
    )
    RotationTarget.objects.filter(pk=target.pk).update(port=free_port())
    with pytest.raises(ConnectorError, match="nothing answered there"):
        rotation_automated_run(actor=pat, task=task)
    assert opened(credential, "secret") == TARGET_OLD
    assert events("error").count() == 1


def test_a_port_that_never_speaks_ssh_times_out_with_its_own_message(ssh):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        endpoint = ssh.endpoint(port=silent.getsockname()[1], connect_timeout=1)
        message = "did not answer as an SSH server within 1 seconds"
        with pytest.raises(ConnectorError, match=message):
            SshConnector().check(
                endpoint, privileged_username=ssh.admin, privileged_secret=ADMIN_SECRET
            )


def test_unknown_account_is_named_and_nothing_is_run(ssh, commands):
    with pytest.raises(ConnectorError, match="has no such account “khtest_nobody_here”"):
        SshConnector().apply(
            ssh.endpoint(),
            privileged_username=ssh.admin,
            privileged_secret=ADMIN_SECRET,
            username="khtest_nobody_here",
            new_secret="New-Linux-Secret-1",
        )
    assert not any("chpasswd" in command for command in commands)


def test_account_without_a_sudo_rule_may_not_run_chpasswd(ssh):
    connector = SshConnector()
    shadow_before = shadow_line(ssh.target)
    message = "may not run chpasswd with sudo"
    with pytest.raises(ConnectorError, match=message):
        connector.check(
            ssh.endpoint(), privileged_username=ssh.outsider, privileged_secret=OUTSIDER_SECRET
        )
    with pytest.raises(ConnectorError, match=message):
        connector.apply(
            ssh.endpoint(),
            privileged_username=ssh.outsider,
            privileged_secret=OUTSIDER_SECRET,
            username=ssh.target,
            new_secret="New-Linux-Secret-2",
        )
    assert shadow_line(ssh.target) == shadow_before
    assert logs_in(ssh, TARGET_OLD)


def test_key_login_whose_sudo_rule_asks_a_password_is_told_to_use_nopasswd(ssh):
    shadow_before = shadow_line(ssh.target)
    with pytest.raises(ConnectorError, match=r"without a password \(NOPASSWD\)"):
        SshConnector().apply(
            ssh.endpoint(),
            privileged_username=ssh.admin,
            privileged_secret=ssh.private_key("admin_key"),
            username=ssh.target,
            new_secret="New-Linux-Secret-3",
        )
    assert shadow_line(ssh.target) == shadow_before


@pytest.fixture
def password_history(sshd):
    """pam_pwhistory (part of libpam-modules) for the policy account only, while the test runs."""
    pam_before = PAM_CHPASSWD.read_bytes()
    history_before = OPASSWD.read_bytes() if OPASSWD.exists() else None
    sshd.set_password(sshd.policy, TARGET_OLD)
    rules = (
        f"password [success=ignore default=1] pam_succeed_if.so quiet user = {sshd.policy}\n"
        "password requisite pam_pwhistory.so enforce_for_root remember=5\n"
    )
    PAM_CHPASSWD.write_bytes(rules.encode() + pam_before)
    try:
        yield
    finally:
        PAM_CHPASSWD.write_bytes(pam_before)
        if history_before is None:
            OPASSWD.unlink(missing_ok=True)
        else:
            OPASSWD.write_bytes(history_before)


def test_a_password_the_system_policy_refuses_is_reported_as_such(sshd, password_history):
    connector = SshConnector()
    arguments = {
        "privileged_username": sshd.admin,
        "privileged_secret": ADMIN_SECRET,
        "username": sshd.policy,
    }
    connector.apply(sshd.endpoint(), new_secret="First-New-Secret-7", **arguments)
    with pytest.raises(ConnectorError) as raised:
        connector.apply(sshd.endpoint(), new_secret=TARGET_OLD, **arguments)
    message = raised.value.message
    assert "was refused by the system's password policy" in message
    assert "Password has been already used" in message
    assert TARGET_OLD not in message
    assert logs_in(sshd, "First-New-Secret-7", user=sshd.policy)


def test_a_server_without_password_logins_says_the_new_password_cannot_be_verified(ssh):
    with pytest.raises(ConnectorError) as raised:
        SshConnector().verify(ssh.endpoint(), username=ssh.keyonly, new_secret=TARGET_OLD)
    message = raised.value.message
    assert "does not accept password logins" in message
    assert "allow PasswordAuthentication for this account" in message


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("-oProxyCommand=x", "Fine-Password-1", "not a Linux account name"),
        ("web:admin", "Fine-Password-1", "not a Linux account name"),
        ("", "Fine-Password-1", "not a Linux account name"),
        ("deploy", "two\nlines", "line break or a NUL"),
        ("deploy", "nul\0byte", "line break or a NUL"),
    ],
)
def test_bad_account_names_and_passwords_are_refused_before_connecting(username, password, message):
    # Nothing listens on the port: reaching it would fail with another message.
    endpoint = Endpoint(host="127.0.0.1", port=free_port(), host_key="")
    with pytest.raises(ConnectorError, match=message):
        SshConnector().apply(
            endpoint,
            privileged_username="root",
            privileged_secret=ADMIN_SECRET,
            username=username,
            new_secret=password,
        )


def test_a_private_key_keyhold_cannot_use_is_refused_in_plain_words(ssh):
    protected = ssh.root / "protected_key"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(protected))
    cases = [
        (protected.read_text(), "protected by a passphrase"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            "not an",
        ),
    ]
    for secret, message in cases:
        with pytest.raises(ConnectorError, match=message):
            SshConnector().check(
                ssh.endpoint(), privileged_username="root", privileged_secret=secret
            )


def test_without_a_pinned_host_key_nothing_is_trusted(ssh):
    with pytest.raises(ConnectorError, match="No host key is pinned"):
        SshConnector().check(
            ssh.endpoint(host_key=""),
            privileged_username=ssh.admin,
            privileged_secret=ADMIN_SECRET,
        )


def test_host_key_fetch_returns_the_servers_key_and_its_fingerprint_matches_ssh_keygen(ssh):
    fetched = host_key_fetch(host="127.0.0.1", port=ssh.port)
    assert fetched == ssh.host_key()
    assert fetched.startswith("ssh-ed25519 AAAA")
    keygen = _run("ssh-keygen", "-lf", str(ssh.root / "host_ed25519.pub")).split()[1]
    assert host_key_fingerprint(fetched) == keygen
    assert host_key_fingerprint(fetched + " admin@web01") == keygen
    with pytest.raises(ConnectorError, match="its data is not a “ssh-rsa” key"):
        host_key_fingerprint(fetched.replace("ssh-ed25519", "ssh-rsa"))
    with pytest.raises(ConnectorError, match="nothing answered there"):
        host_key_fetch(host="127.0.0.1", port=free_port(), timeout=2)


def test_an_rsa_pin_is_honoured_on_a_server_that_also_has_an_ed25519_key(ssh):
    # paramiko alone would settle on ed25519, which this server offers first, and report the
    # RSA pin as a changed key.
    assert host_key_fetch(host="127.0.0.1", port=ssh.port) == ssh.host_key()
    SshConnector().check(
        ssh.endpoint(host_key=ssh.host_key("host_rsa")),
        privileged_username=ssh.admin,
        privileged_secret=ADMIN_SECRET,
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "OpenSSH public key line"),
        ("AAAAC3NzaC1lZDI1NTE5", "OpenSSH public key line"),
        ("ssh-ed25519 not*base64", "not base64"),
    ],
)
def test_a_malformed_host_key_line_is_refused_in_plain_words(line, message):
    with pytest.raises(ConnectorError, match=message):
        host_key_fingerprint(line)


def test_check_is_a_dry_run_that_changes_nothing(ssh):
    connector = SshConnector()
    shadow_before = shadow_line(ssh.target)
    admin_before = shadow_line(ssh.admin)
    connector.check(ssh.endpoint(), privileged_username=ssh.admin, privileged_secret=ADMIN_SECRET)
    connector.check(
        ssh.endpoint(), privileged_username="root", privileged_secret=ssh.private_key("root_key")
    )
    with pytest.raises(ConnectorError, match="the privileged password was refused"):
        connector.check(ssh.endpoint(), privileged_username=ssh.admin, privileged_secret="wrong")
    assert shadow_line(ssh.target) == shadow_before
    assert shadow_line(ssh.admin) == admin_before
    assert logs_in(ssh, TARGET_OLD)
