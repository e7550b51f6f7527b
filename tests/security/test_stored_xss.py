"""Stored XSS (check C42): markup typed into any credential field renders inert everywhere.

Every value a person can type that a page shows back (client, system and staff names, the
credential's name, username, secret and where it is used, change and archive reasons,
checkout tickets and reasons, emergency reasons, share-link recipients, rotation reasons)
carries markup; every page that shows it must show it as text, the rotation task page and
its "update the places that use it" message included. The browser half of this
check lives in tests/e2e/test_reveal.py (no dialog fires when such a secret is revealed).
"""

import pytest
from django.utils import timezone
from django.utils.html import escape

from accounts.models import Role
from rotation.services.tasks import rotation_task_complete, rotation_task_request
from tenants import services as tenant_services
from tenants.models import AccessLevel
from tests.conftest import sign_in
from tests.factories import UserFactory
from vault import services as vault_services
from vault.models import ClientVaultPolicy, CredentialType
from vault.services.checkouts import checkout_request
from vault.services.emergency import emergency_open
from vault.services.share_links import share_link_create

PAYLOADS = [
    '<script>alert("kh-xss")</script>',
    '"><img src=x onerror=alert("kh-xss")>',
    "' autofocus onfocus='alert(1)",
]


class Seeded:
    """A client whose every typed field carries `payload`, and a manager who sees it all."""

    def __init__(self, payload: str):
        self.payload = payload
        self.manager = UserFactory(roles=[Role.MANAGER, Role.AUDITOR])
        self.client = tenant_services.client_create(
            actor=UserFactory(roles=[Role.ADMINISTRATOR]), name=f"Client {payload}"
        )
        tenant_services.assignment_grant(
            actor=None, client=self.client, user=self.manager, level=AccessLevel.MANAGE
        )
        self.system = tenant_services.system_create(
            actor=self.manager, client=self.client, name=f"DC01 {payload}", kind="server"
        )
        self.credential = vault_services.credential_create(
            actor=self.manager,
            client=self.client,
            system=self.system,
            name=f"Backup {payload}",
            credential_type=CredentialType.SERVICE_ACCOUNT,
            username=f"svc{payload}",
            secret=f"S3cret{payload}",
            notes=f"Notes {payload}",
            used_by=f"Used by {payload}",
        )
        vault_services.credential_reveal(
            actor=self.manager, credential=self.credential, ticket=f"T-{payload}"[:64]
        )
        self.archived = vault_services.credential_create(
            actor=self.manager,
            client=self.client,
            name=f"Old {payload}",
            credential_type=CredentialType.STANDARD_USER,
            secret="unused-secret-1",
        )
        vault_services.credential_archive(
            actor=self.manager, credential=self.archived, reason=f"Retired {payload}"
        )
        # A done rotation task; the secret then changes again by an edit.
        self.rotation = rotation_task_request(
            actor=self.manager,
            credential=self.credential,
            reason="exposed",
            detail=f"Pasted {payload}",
        )
        rotation_task_complete(actor=self.manager, task=self.rotation, new_secret="Rotated-9x")
        vault_services.credential_update(
            actor=self.manager,
            credential=self.credential,
            secret=f"N3w{payload}",
            reason=f"Rotated {payload}",
        )
        _, self.share_token = share_link_create(
            actor=self.manager, credential=self.credential, recipient=f"Jane {payload}"
        )
        # A technician asks to check out a high-privilege credential; a manager must approve.
        self.technician = UserFactory(roles=[Role.TECHNICIAN], full_name=f"Tess {payload}")
        tenant_services.assignment_grant(
            actor=None, client=self.client, user=self.technician, level=AccessLevel.PRIVILEGED
        )
        ClientVaultPolicy.objects.create(client=self.client, checkout_approval_required=True)
        self.domain_admin = vault_services.credential_create(
            actor=self.manager,
            client=self.client,
            name=f"DA {payload}",
            credential_type=CredentialType.DOMAIN_ADMIN,
            secret="unused-secret-2",
        )
        checkout_request(
            actor=self.technician,
            credential=self.domain_admin,
            ticket=f"T{payload}"[:64],
            reason=f"Fix {payload}",
        )
        self.sealed = vault_services.credential_create(
            actor=self.manager,
            client=self.client,
            name=f"Glass {payload}",
            credential_type=CredentialType.CLOUD_TENANT_ADMIN,
            secret="unused-secret-3",
            is_emergency=True,
        )
        emergency_open(
            actor=self.manager, credential=self.sealed, reason=f"Outage {payload} right now"
        )
        self.open_rotation = rotation_task_request(
            actor=self.manager, credential=self.credential, reason="manual"
        )

    def pages(self) -> list[str]:
        slug = self.client.slug
        base = f"/clients/{slug}/credentials/"
        month = timezone.now().strftime("%Y-%m")
        return [
            "/clients/",
            f"/clients/{slug}/",
            f"/clients/{slug}/access/",
            f"/clients/{slug}/systems/{self.system.pk}/",
            base,
            f"{base}?status=archived",
            f"{base}{self.credential.pk}/",
            f"{base}{self.credential.pk}/edit/",
            f"{base}{self.archived.pk}/",
            "/credentials/",
            "/credentials/?q=Backup",
            "/search/?q=Backup",
            "/search/?q=DC01",
            f"/audit/reviews/?month={month}",
            f"/audit/reviews/events/?month={month}",
            "/audit/hygiene/",
            "/notifications/",
            f"{base}{self.credential.pk}/history/",
            f"{base}{self.credential.pk}/share-links/",
            f"{base}{self.domain_admin.pk}/",
            f"/clients/{slug}/emergency/",
            f"/clients/{slug}/vault-policy/",
            "/checkouts/approvals/",
            f"/rotation/tasks/{self.rotation.pk}/",
            f"/rotation/tasks/{self.open_rotation.pk}/",
            "/rotation/tasks/",
            "/rotation/overdue/",
            f"/clients/{slug}/rotation-policy/",
        ]


@pytest.mark.django_db
@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_in_every_field_renders_as_text_on_every_page(client, payload):
    seeded = Seeded(payload)
    sign_in(client, seeded.manager)
    shown_escaped = set()
    for path in seeded.pages():
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert payload not in html, path
        if escape(payload) in html:
            shown_escaped.add(path)
    # The fields are really on these pages, escaped, not merely absent.
    slug = seeded.client.slug
    for path in (
        "/clients/",
        f"/clients/{slug}/credentials/",
        f"/clients/{slug}/credentials/{seeded.credential.pk}/",
        "/search/?q=Backup",
        f"/clients/{slug}/credentials/{seeded.credential.pk}/history/",
        f"/clients/{slug}/credentials/{seeded.credential.pk}/share-links/",
        f"/clients/{slug}/emergency/",
        "/checkouts/approvals/",
        f"/rotation/tasks/{seeded.rotation.pk}/",
    ):
        assert path in shown_escaped, path
    detail = client.get(f"/clients/{slug}/credentials/{seeded.credential.pk}/").content.decode()
    task_page = client.get(f"/rotation/tasks/{seeded.rotation.pk}/").content.decode()
    for html in (detail, task_page):
        assert escape(f"Used by {payload}") in html


@pytest.mark.django_db
@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_message_after_a_rotation_shows_where_it_is_used_as_text(client, payload):
    seeded = Seeded(payload)
    sign_in(client, seeded.manager)
    response = client.post(
        f"/rotation/tasks/{seeded.open_rotation.pk}/complete/",
        {"new_secret": "Rotated-Again-7y"},
        follow=True,
    )
    html = response.content.decode()
    assert "Update the places that use it" in html
    assert payload not in html
    assert escape(f"Used by {payload}") in html


@pytest.mark.django_db
@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_technicians_checkout_pages_show_markup_as_text(client, payload):
    seeded = Seeded(payload)
    sign_in(client, seeded.technician)
    slug = seeded.client.slug
    for path in ("/checkouts/", f"/clients/{slug}/credentials/{seeded.domain_admin.pk}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert payload not in html, path
        assert escape(f"DA {payload}") in html or escape(f"Fix {payload}") in html, path


@pytest.mark.django_db
@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_revealed_secret_with_markup_is_text(client, payload):
    seeded = Seeded(payload)
    sign_in(client, seeded.manager)
    path = f"/clients/{seeded.client.slug}/credentials/{seeded.credential.pk}/reveal/"
    for purpose in ("reveal", "copy"):
        response = client.post(path, {"ticket": "T-1", "purpose": purpose})
        assert response.status_code == 200
        html = response.content.decode()
        assert f"N3w{payload}" not in html
        assert escape(f"N3w{payload}") in html


@pytest.mark.django_db
@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_client_contacts_share_pages_show_markup_as_text(client, payload):
    seeded = Seeded(payload)
    assert client.get(f"/share/{seeded.share_token}/").status_code == 302
    landing = client.get("/share/").content.decode()
    revealed = client.post("/share/").content.decode()
    for html in (landing, revealed):
        assert payload not in html
    assert escape(f"N3w{payload}") in revealed
    assert escape(f"svc{payload}") in revealed
