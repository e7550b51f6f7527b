"""rotate_kek killed with SIGKILL part-way (check C26): a rerun finishes, nothing is lost.

The command runs in a process of its own against the test database, is killed as soon as
it reports its first committed batch, and then runs again to the end.
"""

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from tests.factories import ClientFactory
from tests.vault.records import read, store
from vault.envelope import data_key_cache_clear
from vault.keyring import keyring_add_version
from vault.models import ClientDataKey

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 400


def kek_versions() -> list[int]:
    return list(ClientDataKey.objects.values_list("provider_key_version", flat=True))


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_rotate_kek_killed_mid_run_leaves_every_key_usable_and_a_rerun_finishes(vault_keyring):
    records = []
    for n in range(CLIENTS):
        client = ClientFactory()
        with transaction.atomic():
            records.append((store(client, f"secret {n}".encode()), f"secret {n}".encode()))
    sealed_before = {record.pk: bytes(record.body) for record, _ in records}
    keyring_add_version(vault_keyring)

    command = subprocess.Popen(
        [sys.executable, "-u", "manage.py", "rotate_kek", "--batch-size", "1"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "KEYHOLD_TEST_WORKER_DATABASE_NAME": connection.settings_dict["NAME"],
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    first_report = command.stdout.readline()
    command.send_signal(signal.SIGKILL)
    command.wait(timeout=30)
    command.stdout.close()

    assert "rewrapped 1 of" in first_report
    versions = kek_versions()
    assert 1 <= versions.count(2) < CLIENTS  # killed part-way, not before or after
    data_key_cache_clear()
    assert all(read(record) == body for record, body in records)

    call_command("rotate_kek", "--batch-size", "50", stdout=io.StringIO())

    assert kek_versions() == [2] * CLIENTS
    data_key_cache_clear()
    assert all(read(record) == body for record, body in records)
    assert {record.pk: bytes(record.body) for record, _ in records} == sealed_before
