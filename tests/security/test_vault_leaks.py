"""End-to-end leak scan of the vault (checks C29, C45): every way a secret is opened, through
the real middleware and views, then a look at everything that stays behind.

Canary secrets go in through each feature (create, change, reveal, history, TOTP code,
share link with a passphrase, checkout of a high-privilege credential, emergency opening).
Afterwards none of them may be in a database dump, in anything logged, in the cache or
session store, in an outbox email or notification, or in a page that did not reveal it.
"""

import logging
import os
import re

import pytest
import redis
from _pytest.logging import LogCaptureHandler
from django.core import mail

from accounts.models import Role
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.security.test_no_plain_mfa_secrets import database_dump
from tests.vault.test_credential_views import form_data
from tests.vault.test_credentials import NOTES, SECRET, SEED
from vault.models import Credential, CredentialSecretVersion, ShareLink

CHANGED = "Changed-Canary-5b2e"
PASSPHRASE = "Passphrase-Canary-77c1"
HIGH = "High-Canary-0d9f"
SEALED = "Sealed-Canary-3e4a"
CANARIES = [SECRET, NOTES, SEED, CHANGED, PASSPHRASE, HIGH, SEALED]


def redis_values() -> bytes:
    """Every string value in the Redis the tests use (cache, broker), when there is one."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return b""
    store = redis.Redis.from_url(url)
    chunks = []
    for key in store.scan_iter(count=1000):
        if store.type(key) == b"string":
            chunks.append(store.get(key) or b"")
    return b"\n".join(chunks)


@pytest.mark.django_db
def test_no_canary_survives_anywhere_but_the_responses_that_revealed_it(
    client, alice, client_a, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    pat = UserFactory(roles=[Role.TECHNICIAN])
    assignment_grant(actor=None, client=client_a, user=pat, level=AccessLevel.PRIVILEGED)
    base = f"/clients/{client_a.slug}/credentials/"
    htmx = {"HTTP_HX_REQUEST": "true"}
    quiet_pages = []

    sign_in(client, alice)
    form = form_data(credential_type="standard_user", name="Front desk")
    assert client.post(f"{base}new/", form).status_code == 302
    standard = Credential.objects.get(name="Front desk")
    page = f"{base}{standard.pk}/"
    assert SECRET in client.post(f"{page}reveal/", {"ticket": "T-1"}, **htmx).content.decode()
    edit = form_data(
        credential_type="standard_user", name="Front desk", secret=CHANGED, status="active"
    )
    assert client.post(f"{page}edit/", {**edit, "reason": "rotated"}).status_code == 302
    version = CredentialSecretVersion.objects.get(credential=standard)
    old = client.post(f"{page}history/{version.pk}/reveal/", {"ticket": "T-2"}, **htmx)
    assert SECRET in old.content.decode()
    assert client.post(f"{page}totp/", **htmx).status_code == 200
    created = client.post(
        f"{page}share-links/new/",
        {"recipient": "Jane", "expires_in_hours": 24, "max_views": 1, "passphrase": PASSPHRASE},
        **htmx,
    )
    assert created.status_code == 200
    token = re.search(r"/share/([A-Za-z0-9_-]{40,})/", created.content.decode()).group(1)
    quiet_pages += [page, f"{page}history/", f"{page}share-links/", base, "/credentials/"]

    form = form_data(name="DC01 admin", credential_type="domain_admin", secret=HIGH, notes="")
    form["totp_seed"] = ""
    assert client.post(f"{base}new/", form).status_code == 302
    sealed = form_data(name="Glass", credential_type="cloud_tenant_admin", secret=SEALED)
    sealed.update(notes="", totp_seed="", is_emergency="on")
    assert client.post(f"{base}new/", sealed).status_code == 302
    glass = Credential.objects.get(name="Glass")
    opened = client.post(
        f"/clients/{client_a.slug}/emergency/{glass.pk}/open/",
        {"reason": "Tenant locked out, no other admin"},
        **htmx,
    )
    assert SEALED in opened.content.decode()
    quiet_pages += [f"/clients/{client_a.slug}/emergency/", f"{base}{glass.pk}/"]
    for path in quiet_pages:
        html = client.get(path).content.decode()
        for canary in CANARIES:
            assert canary not in html, (path, canary)

    contact = type(client)()
    assert contact.get(f"/share/{token}/").status_code == 302
    shared = contact.post("/share/", {"passphrase": PASSPHRASE}).content.decode()
    assert CHANGED in shared
    assert ShareLink.objects.get().payload is None
    technician = type(client)()
    sign_in(technician, pat)
    domain_admin = Credential.objects.get(name="DC01 admin")
    checkout = technician.post(
        f"{base}{domain_admin.pk}/checkout/",
        {"ticket": "T-3", "reason": "Reset the trust", "duration_minutes": 30},
    )
    assert checkout.status_code in (200, 302)
    held = technician.post(f"{base}{domain_admin.pk}/reveal/", {"ticket": "T-3"}, **htmx)
    assert HIGH in held.content.decode()

    captured = capsys.readouterr()
    # Every record as Keyhold's own log handler writes it (the redaction runs there).
    handler = next(
        each
        for each in logging.getLogger().handlers
        if not isinstance(each, LogCaptureHandler) and each.formatter is not None
    )
    written = "\n".join(handler.format(record) for record in caplog.records)
    assert "request_finished" in written
    logged = captured.out + captured.err + written
    dump = database_dump()
    stored = redis_values()
    mails = " ".join(f"{m.subject} {m.body}" for m in mail.outbox)
    for canary in [*CANARIES, token]:
        assert canary not in logged, canary
        assert canary.encode() not in dump, canary
        assert canary.encode() not in stored, canary
        assert canary not in mails, canary
