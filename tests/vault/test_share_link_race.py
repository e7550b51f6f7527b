"""C60: a one-time link under concurrent Reveal requests gives the secret to exactly one.

Twenty contacts' browsers (threads, each with its own django.test.Client and so its own
database connection) press Reveal at the same moment; the conditional UPDATE lets one win.
"""

import threading

import pytest
from django.db import connection
from django.test import Client as Browser

from accounts.models import Notification
from audit.models import AuditEvent
from tests.vault.test_credentials import SECRET, make_credential
from vault.models import CredentialType, ShareLink
from vault.services import share_links as services

CONTACTS = 20

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_twenty_concurrent_reveals_give_the_secret_to_exactly_one(bob, client_a):
    credential = make_credential(
        client=client_a, name="Front desk PC", credential_type=CredentialType.STANDARD_USER
    )
    link, token = services.share_link_create(actor=bob, credential=credential, recipient="Pat")
    barrier = threading.Barrier(CONTACTS)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def contact() -> None:
        try:
            browser = Browser()
            assert browser.get(f"/share/{token}/").status_code == 302
            barrier.wait(timeout=30)
            response = browser.post("/share/")
            with lock:
                results.append((response.status_code, response.content.decode()))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=contact) for _ in range(CONTACTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == CONTACTS
    winners = [body for status, body in results if SECRET in body]
    assert len(winners) == 1
    assert sorted(status for status, _ in results) == [200] + [410] * (CONTACTS - 1)
    losers = {body for status, body in results if status == 410}
    assert len(losers) == 1  # every refusal is the same page
    assert "This link has expired or has already been used" in losers.pop()

    row = ShareLink.objects.get(pk=link.pk)
    assert (row.views, row.payload) == (1, None)
    revealed = AuditEvent.objects.filter(action="share_link.revealed")
    assert revealed.filter(outcome="success").count() == 1
    assert revealed.filter(outcome="denied").count() == CONTACTS - 1
    assert Notification.objects.filter(user=bob).exists()
