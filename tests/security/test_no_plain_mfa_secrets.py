"""The TOTP secret and backup codes never sit in the database in a readable form."""

import base64

import pytest
from django.db import connection

from accounts import services
from accounts.models import BackupCodeDevice, TotpDevice
from tests.accounts.test_mfa import code_for
from tests.factories import UserFactory


def database_dump() -> bytes:
    """Every row of every table, as the bytes a dump would hold."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value))
                    else:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


@pytest.mark.django_db
def test_totp_secret_and_backup_codes_do_not_appear_in_a_database_dump():
    user = UserFactory(mfa=False)
    device = services.totp_enrolment_start(actor=user)
    _, codes = services.totp_enrolment_confirm(actor=user, code=code_for(device))
    secret = TotpDevice.objects.get(user=user).secret()
    dump = database_dump().lower()
    forms_of_the_secret = [
        secret,
        secret.hex().encode(),
        base64.b32encode(secret).rstrip(b"="),
        base64.b64encode(secret),
    ]
    assert TotpDevice.objects.filter(user=user).exists()
    for form in forms_of_the_secret:
        assert form.lower() not in dump
    for code in codes:
        assert code.encode().lower() not in dump
        assert BackupCodeDevice.normalize(code).encode().lower() not in dump


@pytest.mark.django_db
def test_a_sealed_secret_copied_to_another_user_does_not_open():
    first, second = UserFactory(), UserFactory()
    donor = TotpDevice.objects.get(user=first)
    TotpDevice.objects.filter(user=second).update(sealed_secret=donor.sealed_secret)
    from vault.crypto import DecryptionFailed

    with pytest.raises(DecryptionFailed):
        TotpDevice.objects.get(user=second).secret()
