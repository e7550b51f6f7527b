"""What every automated-rotation test needs: a free loopback port for its private server,
and a credential with its privileged credential, a rotation target and an open task."""

import socket

from rotation.models import RotationTarget, RotationTask
from rotation.services.tasks import rotation_task_request
from tests.vault.test_credentials import make_credential


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def target_world(
    *,
    client,
    actor,
    connector: str,
    port: int,
    account: tuple[str, str, str],
    privileged: tuple[str, str, str],
    **target_fields,
) -> tuple:
    """`account` and `privileged` are (name, username, secret); returns (credential,
    privileged credential, target, task) with the task opened for a manual reason. The target
    does not start rotations by itself unless asked: each test runs the one it examines."""
    target_fields.setdefault("rotate_automatically", False)
    name, username, secret = account
    credential = make_credential(
        client=client,
        actor=actor,
        name=name,
        credential_type="service_account",
        username=username,
        secret=secret,
    )
    name, username, secret = privileged
    privileged_credential = make_credential(
        client=client,
        actor=actor,
        name=name,
        credential_type="service_account",
        username=username,
        secret=secret,
    )
    target = RotationTarget.objects.create(
        client=client,
        credential=credential,
        connector=connector,
        host="127.0.0.1",
        port=port,
        privileged_credential=privileged_credential,
        created_by=actor,
        **target_fields,
    )
    task: RotationTask = rotation_task_request(actor=None, credential=credential, reason="manual")
    return credential, privileged_credential, target, task
