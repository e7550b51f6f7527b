"""Automated rotation of a PostgreSQL role against a real, private PostgreSQL server.

The system cluster on 5432 trusts every TCP login, so it cannot prove a password: these
tests start their own cluster (initdb/pg_ctl) on a free loopback port with scram-sha-256
for TCP logins, and stop it afterwards. Keyhold's own database is separate, so they run on
SQLite too.

Action covered here, with exactly one event per run: rotation.automated_attempted (success
and error outcomes).
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from audit.models import AuditEvent
from rotation.connectors import ConnectorError
from rotation.connectors.base import Endpoint
from rotation.connectors.postgresql import PostgreSQLConnector
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from rotation.services import automation
from rotation.services.automation import rotation_automated_run
from tests.rotation.automation_support import free_port, target_world
from tests.vault.test_credentials import opened
from vault.envelope import ENCRYPTED_FIELDS, EncryptedField

ROLE = "app_owner"
ROLE_OLD = "Old-App-Secret-7731"
ADMIN = "keyhold_admin"
ADMIN_SECRET = "Admin-Secret-5519"
SUPER_SECRET = "Super-Secret-2207"
ACTION = "rotation.automated_attempted"


def _bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


class PrivatePostgres:
    """A throwaway cluster: superuser `postgres` (scram over TCP, trust on its own socket)."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="keyhold-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(SUPER_SECRET + "\n")
        if self.as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        )
        pwfile.unlink()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c password_encryption=scram-sha-256"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        with self.superuser() as conn:
            conn.execute(f"CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{ADMIN_SECRET}'")

    def superuser(self) -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.root), port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def reset_role(self) -> None:
        with self.superuser() as conn:
            conn.execute(f"DROP ROLE IF EXISTS {ROLE}")
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_OLD}'")

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    if _bindir() is None:
        pytest.fail(
            "initdb and pg_ctl (PostgreSQL server) are missing; scripts/test.sh installs them."
        )
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg(server):
    server.reset_role()
    return server


def logs_in(pg, password: str) -> bool:
    try:
        PostgreSQLConnector().verify(
            Endpoint(host="127.0.0.1", port=pg.port), username=ROLE, new_secret=password
        )
    except ConnectorError:
        return False
    return True


@pytest.fixture
def world(pg, client_a, alice, pat):
    """The role's credential and the privileged one (client A), a target and an open task."""
    return target_world(
        client=client_a,
        actor=alice,
        connector="postgresql",
        port=pg.port,
        account=("App DB owner", ROLE, ROLE_OLD),
        privileged=("DB admin", ADMIN, ADMIN_SECRET),
        database="postgres",
    )


def events(outcome="success"):
    return AuditEvent.objects.filter(action=ACTION, outcome=outcome)


def test_pending_secret_is_a_registered_encrypted_field():
    spec = EncryptedField("rotation.RotationAttempt", "pending_secret", "rotation.attempt")
    assert spec in ENCRYPTED_FIELDS


def test_rotation_changes_the_password_on_the_server_and_promotes_it(pg, pat, world):
    credential, _, _, task = world
    assert logs_in(pg, ROLE_OLD)
    attempt = rotation_automated_run(actor=pat, task=task)
    attempt.refresh_from_db()
    assert attempt.status == RotationAttempt.Status.PROMOTED
    assert attempt.applied_at is not None
    assert attempt.verified_at is not None
    assert attempt.promoted_at is not None
    new = opened(credential, "secret")
    assert new != ROLE_OLD
    assert logs_in(pg, new)
    assert not logs_in(pg, ROLE_OLD)
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.DONE
    assert events().count() == 1
    event = events().get()
    assert event.details["attempt_id"] == str(attempt.pk)
    assert event.details["step"] == "promote"
    dump = str(event.details) + event.reason
    for value in (new, ROLE_OLD, ADMIN_SECRET):
        assert value not in dump
    # The server stored a SCRAM verifier, never the plaintext.
    with pg.superuser() as conn:
        stored = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [ROLE]
        ).fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$")
    assert new not in stored


class WorkerKilled(BaseException):
    """Stands for the worker dying: not an Exception, so nothing catches and marks it."""


def test_a_crash_between_changed_on_target_and_promoted_loses_nothing(pg, pat, world, monkeypatch):
    credential, _, _, task = world

    def killed(**kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(automation, "rotation_task_complete", killed)
    with pytest.raises(WorkerKilled):
        rotation_automated_run(actor=pat, task=task)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.VERIFIED
    # The target already holds the pending secret; the vault still has the old one.
    assert opened(credential, "secret") == ROLE_OLD
    assert not logs_in(pg, ROLE_OLD)
    pending = automation._pending_secret(attempt)
    assert logs_in(pg, pending)

    monkeypatch.undo()
    resumed = rotation_automated_run(actor=pat, task=task)
    assert resumed.pk == attempt.pk
    assert RotationAttempt.objects.filter(task=task).count() == 1
    assert opened(credential, "secret") == pending
    assert logs_in(pg, pending)
    assert events().count() == 1
    assert events().get().details["resumed"] is True


def test_a_failed_promotion_is_marked_failed_and_a_retry_promotes_the_same_secret(
    pg, pat, world, monkeypatch
):
    credential, _, _, task = world

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(automation, "rotation_task_complete", broken)
    with pytest.raises(RuntimeError):
        rotation_automated_run(actor=pat, task=task)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.FAILED
    assert attempt.failed_step == "promote"
    assert "old secret is still current" in attempt.error
    assert opened(credential, "secret") == ROLE_OLD
    assert events("error").count() == 1
    pending = automation._pending_secret(attempt)

    monkeypatch.undo()
    rotation_automated_run(actor=pat, task=task)
    assert opened(credential, "secret") == pending
    assert logs_in(pg, pending)
    assert not logs_in(pg, ROLE_OLD)
    assert RotationAttempt.objects.get(task=task).status == RotationAttempt.Status.PROMOTED


def test_wrong_privileged_password_fails_with_a_reason_and_keeps_the_old_secret(
    pg, pat, alice, world
):
    credential, privileged, _, task = world
    from vault.services import credential_update

    credential_update(actor=alice, credential=privileged, secret="Not-The-Admin-Password-1")
    with pytest.raises(ConnectorError, match="privileged password was refused"):
        rotation_automated_run(actor=pat, task=task)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.FAILED
    assert attempt.failed_step == "apply"
    assert "privileged password was refused" in attempt.error
    assert opened(credential, "secret") == ROLE_OLD
    assert logs_in(pg, ROLE_OLD)
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert events("error").count() == 1
    event = events("error").get()
    assert event.details["step"] == "apply"
    assert event.details["attempt_id"] == str(attempt.pk)
    assert "privileged password was refused" in event.reason
    assert "Not-The-Admin-Password-1" not in str(event.details) + event.reason
    assert events().count() == 0


def test_unreachable_target_fails_with_a_reason(pg, pat, world):
    credential, _, target, task = world
    RotationTarget.objects.filter(pk=target.pk).update(port=free_port())
    with pytest.raises(ConnectorError, match="could not reach"):
        rotation_automated_run(actor=pat, task=task)
    assert opened(credential, "secret") == ROLE_OLD
    assert events("error").count() == 1


def test_check_is_a_dry_run_that_changes_nothing(pg):
    connector = PostgreSQLConnector()
    endpoint = Endpoint(host="127.0.0.1", port=pg.port, database="postgres")
    connector.check(endpoint, privileged_username=ADMIN, privileged_secret=ADMIN_SECRET)
    with pytest.raises(ConnectorError, match="privileged password was refused"):
        connector.check(endpoint, privileged_username=ADMIN, privileged_secret="wrong")
    assert logs_in(pg, ROLE_OLD)


def test_client_key_rotation_reseals_a_pending_secret_that_stays_recoverable(
    pg, pat, client_a, world, monkeypatch
):
    from vault.envelope import sealed_version
    from vault.services.keys import client_key_rotation_start, client_key_rotation_step

    credential, _, _, task = world

    def killed(**kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(automation, "rotation_task_complete", killed)
    with pytest.raises(WorkerKilled):
        rotation_automated_run(actor=pat, task=task)
    attempt = RotationAttempt.objects.get(task=task)
    pending = automation._pending_secret(attempt)
    assert sealed_version(attempt.pending_secret) == 1

    client_key_rotation_start(actor=None, client=client_a)
    for _ in range(20):
        if client_key_rotation_step(client_id=client_a.pk, batch_size=50) == 0:
            break
    attempt.refresh_from_db()
    assert sealed_version(attempt.pending_secret) == 2
    assert automation._pending_secret(attempt) == pending

    monkeypatch.undo()
    rotation_automated_run(actor=pat, task=task)
    assert opened(credential, "secret") == pending
    assert logs_in(pg, pending)
