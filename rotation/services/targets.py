"""Automated rotation targets: set one up for a credential, test its connection, remove it;
fetch an SSH server's host key to pin; and start a task's automated rotation now.

Each action is one transaction whose audit event is its last write; events carry ids and
field names, never a secret. The connection test opens the privileged credential's current
secret in memory only, for the connector's dry-run login, and keeps its outcome on the row.
"""

import base64
import binascii
import ipaddress
import re
import struct
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from audit.models import Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import FieldInvalid, InvalidRequest, NotFound
from rotation.connectors import Connector, ConnectorError, connector_for
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from rotation.services.automation import _current_secret, _endpoint
from rotation.services.tasks import _required_level
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user
from vault.envelope import recording_decryption_failures
from vault.models import Credential

PORT_MIN, PORT_MAX = 1, 65535
HOST_MAX = 253
CHECK_ERROR_MAX = 500
HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
# Endpoint fields beyond host and port: a connector uses those in its `needs`, and cannot do
# without those in its `required`; the others are cleared.
OPTIONAL_FIELDS = ("database", "base_dn", "tls_mode", "host_key")
FIELD_MAX = {"database": 63, "base_dn": 500, "tls_mode": 16, "host_key": 2000}
FIELD_NAMES = {
    "database": "The database",
    "base_dn": "The base DN",
    "tls_mode": "The TLS mode",
    "host_key": "The SSH host key",
}
REQUIRED_HINTS = {
    "host_key": " Press “Fetch host key”, compare its fingerprint with the server's, then save.",
    "base_dn": " It is where Keyhold looks the account up, e.g. “ou=people,dc=example,dc=com”.",
}
# A new endpoint or account makes the last connection test meaningless.
CHECKED_FIELDS = {"connector", "host", "port", *OPTIONAL_FIELDS, "privileged_credential"}


@dataclass(frozen=True)
class HostKey:
    """An SSH server's public host key and its SHA256 fingerprint, to compare before pinning."""

    key: str
    fingerprint: str


def _credential_target(credential: Credential) -> Target:
    return Target(type="vault.credential", id=str(credential.pk), label=credential.name[:254])


def _host_clean(host: str) -> str:
    host = (host or "").strip()
    if not host:
        raise FieldInvalid("host", "Enter the host name or IP address of the system.")
    if "://" in host or "/" in host or "@" in host or any(char.isspace() for char in host):
        raise FieldInvalid(
            "host",
            "Enter only the host name or IP address, without “https://”, a user name, a path "
            "or spaces.",
        )
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if ":" in host:
        raise FieldInvalid("host", "Enter the port in the Port field, not after the host.")
    name = host.removesuffix(".")
    if len(name) > HOST_MAX or not all(HOSTNAME_LABEL.match(label) for label in name.split(".")):
        raise FieldInvalid("host", f"“{host[:80]}” is not a host name or an IP address.")
    return name.lower()


def _port_clean(port: int | None, *, default: int) -> int:
    if port is None:
        return default
    if isinstance(port, bool) or not isinstance(port, int) or not PORT_MIN <= port <= PORT_MAX:
        raise FieldInvalid("port", f"The port is a number from {PORT_MIN} to {PORT_MAX}.")
    return port


def _host_key_clean(value: str) -> str:
    """ "type base64" from a .pub file, an ssh-keyscan or known_hosts line, or as fetched."""
    parts = (value or "").split()
    if not parts:
        return ""
    for index, part in enumerate(parts[:-1]):
        if part in HOST_KEY_TYPES:
            blob = parts[index + 1]
            try:
                raw = base64.b64decode(blob, validate=True)
                (length,) = struct.unpack(">I", raw[:4])
                embedded = raw[4 : 4 + length].decode("ascii")
            except (binascii.Error, struct.error, UnicodeDecodeError):
                break
            if embedded == part:
                return f"{part} {blob}"
            break
    raise FieldInvalid(
        "host_key",
        "Paste the server's public host key as “ssh-ed25519 AAAA…” (from the server's "
        "/etc/ssh/ssh_host_ed25519_key.pub), or press “Fetch host key”.",
    )


def _connector(kind: str) -> Connector:
    if kind not in RotationTarget.Connector.values:
        raise FieldInvalid("connector", "Choose the kind of system this credential is on.")
    try:
        return connector_for(kind)
    except ConnectorError as error:
        raise FieldInvalid("connector", error.message) from None


def _values_clean(
    *,
    connector: str,
    host: str,
    port: int | None,
    database: str,
    base_dn: str,
    tls_mode: str,
    host_key: str,
    rotate_automatically: bool,
) -> dict:
    """The target's fields as stored, or FieldInvalid naming the first one refused."""
    tls_mode = (tls_mode or "").strip()
    if tls_mode and tls_mode not in RotationTarget.TlsMode.values:
        raise FieldInvalid("tls_mode", "Choose StartTLS, TLS, or the connector's default.")
    if (
        connector == RotationTarget.Connector.ACTIVE_DIRECTORY
        and tls_mode == RotationTarget.TlsMode.NONE
    ):
        raise FieldInvalid(
            "tls_mode",
            "Active Directory changes passwords only over an encrypted connection: choose "
            "StartTLS or TLS.",
        )
    kind = _connector(connector)
    values: dict = {"connector": connector, "host": _host_clean(host)}
    values["port"] = _port_clean(port, default=kind.default_port)
    given = {
        "database": (database or "").strip(),
        "base_dn": (base_dn or "").strip(),
        "tls_mode": tls_mode,
        "host_key": _host_key_clean(host_key) if "host_key" in kind.needs else "",
    }
    for name in OPTIONAL_FIELDS:
        value = given[name] if name in kind.needs else ""
        if name in kind.required and not value:
            raise FieldInvalid(
                name,
                f"{FIELD_NAMES[name]} is needed for a {kind.label} target."
                + REQUIRED_HINTS.get(name, ""),
            )
        if len(value) > FIELD_MAX[name]:
            raise FieldInvalid(
                name, f"{FIELD_NAMES[name]} is at most {FIELD_MAX[name]} characters."
            )
        values[name] = value
    values["rotate_automatically"] = bool(rotate_automatically)
    return values


def _privileged_check(
    privileged: Credential | None, *, credential: Credential, client: Client
) -> Credential:
    field = "privileged_credential"
    if privileged is None:
        raise FieldInvalid(field, "Choose the privileged credential Keyhold acts with.")
    row = (
        Credential.objects.filter(pk=privileged.pk, client_id=client.pk)
        .only("id", "name", "username", "client_id", "is_emergency", "status")
        .first()
    )
    if row is None:
        raise FieldInvalid(
            field, f"Choose one of {client.name}'s credentials as the privileged credential."
        )
    if row.pk == credential.pk:
        raise FieldInvalid(
            field,
            "A credential cannot be its own privileged credential: choose the account that may "
            "change its password.",
        )
    if row.is_emergency:
        raise FieldInvalid(
            field,
            "A sealed emergency credential is opened only by breaking its seal; choose another "
            "account for automated rotation.",
        )
    if row.status == Credential.Status.ARCHIVED:
        raise FieldInvalid(field, f"{row.name} is archived; choose an active credential.")
    if not row.username.strip():
        raise FieldInvalid(
            field,
            f"{row.name} has no username; Keyhold needs the account name to log in with it.",
        )
    return row


def rotation_target_save(
    *,
    actor: User,
    credential: Credential,
    connector: str,
    host: str,
    port: int | None,
    database: str = "",
    base_dn: str = "",
    tls_mode: str = "",
    host_key: str = "",
    privileged_credential: Credential | None,
    rotate_automatically: bool,
) -> RotationTarget:
    """Set up or change where and how a credential is rotated automatically (manage level).

    Fields the connector does not use are cleared; an empty port takes its default. A change
    of endpoint or account forgets the last connection test.
    """
    client = credential.client
    attempt = Attempt(
        actor=actor,
        action="rotation.target_saved",
        client=client,
        target=_credential_target(credential),
        details={"vault_item_id": str(credential.pk)},
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        values = _values_clean(
            connector=connector,
            host=host,
            port=port,
            database=database,
            base_dn=base_dn,
            tls_mode=tls_mode,
            host_key=host_key,
            rotate_automatically=rotate_automatically,
        )
        with transaction.atomic():
            current = (
                Credential.objects.filter(pk=credential.pk, client_id=client.pk)
                .only("id", "name", "username", "client_id", "status")
                .first()
            )
            if current is None:
                raise NotFound()
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; it is no longer rotated.")
            if not current.username.strip():
                raise InvalidRequest(
                    "Give this credential its username first: it names the account Keyhold "
                    "rotates on the target."
                )
            privileged = _privileged_check(privileged_credential, credential=current, client=client)
            values["privileged_credential"] = privileged
            target = (
                RotationTarget.objects.select_for_update().filter(credential_id=current.pk).first()
            )
            created = target is None
            now = timezone.now()
            if target is None:
                target = RotationTarget(
                    client=client, credential=current, created_at=now, created_by=actor
                )
            changed = sorted(
                name
                for name, value in values.items()
                if created
                or (
                    target.privileged_credential_id != privileged.pk
                    if name == "privileged_credential"
                    else getattr(target, name) != value
                )
            )
            for name, value in values.items():
                setattr(target, name, value)
            if CHECKED_FIELDS & set(changed):
                target.last_checked_at = None
                target.last_check_error = ""
            target.updated_at = now
            target.updated_by = actor
            target.save()
            record(
                actor=actor,
                action="rotation.target_saved",
                client=client,
                target=_credential_target(current),
                details={
                    "vault_item_id": str(current.pk),
                    "rotation_target_id": str(target.pk),
                    "privileged_item_id": str(privileged.pk),
                    "connector": target.connector,
                    "created": created,
                    "changed_fields": changed,
                },
            )
    return target


def _target_locked(target: RotationTarget, client: Client) -> RotationTarget:
    current = (
        RotationTarget.objects.select_for_update()
        .select_related("credential", "privileged_credential")
        .filter(pk=target.pk, client_id=client.pk)
        .first()
    )
    if current is None:
        raise NotFound()
    return current


def rotation_target_remove(*, actor: User, target: RotationTarget) -> None:
    """Stop rotating a credential automatically by removing its target (manage level).

    Past attempts stay in the credential's history without it. An unfinished attempt of an
    open task holds the pending secret the target may already have, so it blocks removal.
    """
    client = target.client
    attempt = Attempt(
        actor=actor,
        action="rotation.target_removed",
        client=client,
        target=_credential_target(target.credential),
        details={"rotation_target_id": str(target.pk)},
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        with transaction.atomic():
            current = _target_locked(target, client)
            unfinished = RotationAttempt.objects.filter(
                target_id=current.pk, task__status=RotationTask.Status.OPEN
            ).exclude(status=RotationAttempt.Status.PROMOTED)
            if unfinished.exists():
                raise InvalidRequest(
                    "An automated rotation of this credential is unfinished and keeps the new "
                    "secret it may already have set on the target. Retry it with “Rotate now” "
                    "on its task, or complete the task by hand, before removing the target."
                )
            credential = current.credential
            details = {
                "vault_item_id": str(credential.pk),
                "rotation_target_id": str(current.pk),
                "connector": current.connector,
            }
            current.delete()
            record(
                actor=actor,
                action="rotation.target_removed",
                client=client,
                target=_credential_target(credential),
                details=details,
            )


@sensitive_variables("privileged_secret")
def rotation_target_check(*, actor: User, target: RotationTarget) -> RotationTarget:
    """Test the connection: log in with the privileged credential, change nothing.

    The outcome is kept on the target (`last_check_error` empty when it worked) and audited;
    a refusal by the target is a result, not an error, so this does not raise for it.
    """
    client = target.client
    audit_target = _credential_target(target.credential)
    attempt = Attempt(
        actor=actor,
        action="rotation.target_checked",
        client=client,
        target=audit_target,
        details={"rotation_target_id": str(target.pk)},
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=audit_target),
    ):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        current = (
            RotationTarget.objects.select_related("credential", "privileged_credential")
            .filter(pk=target.pk, client_id=client.pk)
            .first()
        )
        if current is None:
            raise NotFound()
        privileged = current.privileged_credential
        if privileged.client_id != client.pk:
            raise NotFound()
        error = ""
        try:
            connector = connector_for(current.connector)
            privileged_secret = _current_secret(privileged)
            connector.check(
                _endpoint(current),
                privileged_username=privileged.username,
                privileged_secret=privileged_secret,
            )
        except ConnectorError as refused:
            error = str(refused.message)[:CHECK_ERROR_MAX]
        now = timezone.now()
        with transaction.atomic():
            RotationTarget.objects.filter(pk=current.pk).update(
                last_checked_at=now, last_check_error=error
            )
            current.last_checked_at = now
            current.last_check_error = error
            record(
                actor=actor,
                action="rotation.target_checked",
                outcome=Outcome.ERROR if error else Outcome.SUCCESS,
                client=client,
                target=audit_target,
                reason=error,
                details={
                    "vault_item_id": str(current.credential_id),
                    "rotation_target_id": str(current.pk),
                    "privileged_item_id": str(privileged.pk),
                    "connector": current.connector,
                    "outcome": "error" if error else "ok",
                },
            )
    return current


def rotation_target_host_key_fetch(
    *, actor: User, credential: Credential, host: str, port: int | None
) -> HostKey:
    """The host key an SSH server presents, with its SHA256 fingerprint, for a manager to
    compare with the server's own before pinning it on the target (nothing is stored)."""
    client_get_for_user(actor=actor, slug=credential.client.slug, level=AccessLevel.MANAGE)
    from rotation.connectors.ssh import host_key_fetch, host_key_fingerprint

    ssh = _connector(RotationTarget.Connector.SSH)
    host = _host_clean(host)
    port = _port_clean(port, default=ssh.default_port)
    key = host_key_fetch(host=host, port=port)
    return HostKey(key=key, fingerprint=host_key_fingerprint(key))


def rotation_automated_enqueue(*, actor: User, task: RotationTask) -> None:
    """Start (or retry) the task's automated rotation in the background, as this person.

    Needs the level completing the task needs; the job records its own outcome.
    """
    client = task.client
    client_get_for_user(actor=actor, slug=client.slug, level=_required_level(task.credential))
    with transaction.atomic():
        current = RotationTask.objects.filter(pk=task.pk, client_id=client.pk).first()
        if current is None:
            raise NotFound()
        if current.status != RotationTask.Status.OPEN:
            raise InvalidRequest(f"This task is already {current.get_status_display().lower()}.")
        if not RotationTarget.objects.filter(credential_id=current.credential_id).exists():
            raise InvalidRequest(
                "This credential has no automated rotation target. Set one up on the "
                "credential's page, or complete the rotation by hand."
            )
        from rotation.tasks import rotation_automated_run

        task_id, actor_id = str(current.pk), str(actor.pk)
        transaction.on_commit(lambda: rotation_automated_run.delay(task_id, actor_id))
