"""Credential pages: wiring, levels, what never reaches the HTML, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from audit.models import AuditEvent
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import NOTES, SECRET, SEED, make_credential, opened
from vault.models import Credential, CredentialSecretVersion

CANARIES = (SECRET, NOTES, SEED)


def form_data(**overrides) -> dict:
    return {
        "name": "Firewall admin",
        "credential_type": "firewall_admin",
        "requested_tier": "",
        "system": "",
        "username": "admin",
        "access_method": "web_portal",
        "host": "https://fw01.contoso.example",
        "secret": SECRET,
        "generate_length": "24",
        "notes": NOTES,
        "totp_seed": SEED,
        "mfa_on_path": "yes",
        "rotation_interval_days": "90",
        "tags": "firewall, perimeter",
        **overrides,
    }


def pages(client_a, credential) -> list[str]:
    base = f"/clients/{client_a.slug}/credentials/"
    return [
        base,
        f"{base}new/",
        f"{base}{credential.pk}/",
        f"{base}{credential.pk}/edit/",
        "/credentials/",
        f"/credentials/?q={credential.name}",
        f"/clients/{client_a.slug}/",
    ]


@pytest.mark.django_db
def test_manager_adds_a_credential_and_sees_it_without_its_secret(client, alice, client_a):
    sign_in(client, alice)
    response = client.post(f"/clients/{client_a.slug}/credentials/new/", form_data())
    credential = Credential.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/clients/{client_a.slug}/credentials/{credential.pk}/"
    assert opened(credential, "secret") == SECRET
    assert opened(credential, "notes") == NOTES
    assert credential.privilege_tier == "high"
    for path in pages(client_a, credential):
        html = client.get(path).content.decode()
        for canary in CANARIES:
            assert canary not in html, (path, canary)
    detail = client.get(f"/clients/{client_a.slug}/credentials/{credential.pk}/").content.decode()
    assert "High privilege" in detail
    assert "MFA on path" in detail
    assert "Hidden" in detail
    assert "perimeter" in detail
    assert AuditEvent.objects.filter(action="credential.created", outcome="success").count() == 1


@pytest.mark.django_db
def test_generate_makes_a_secret_server_side(client, alice, client_a):
    sign_in(client, alice)
    data = form_data(secret="", generate="on", generate_length="40", generate_symbols="")
    response = client.post(f"/clients/{client_a.slug}/credentials/new/", data)
    assert response.status_code == 302
    generated = opened(Credential.objects.get(), "secret")
    assert len(generated) == 40
    assert generated.isalnum()


@pytest.mark.django_db
def test_a_failed_form_keeps_what_was_typed_but_never_the_secret(client, alice, client_a):
    sign_in(client, alice)
    data = form_data(name="Kept name", host="javascript:alert(1)")
    response = client.post(f"/clients/{client_a.slug}/credentials/new/", data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Kept name" in html
    assert "http(s) address" in html
    for canary in CANARIES:
        assert canary not in html
    assert not Credential.objects.exists()
    missing = client.post(
        f"/clients/{client_a.slug}/credentials/new/", form_data(secret="", generate="")
    )
    assert "Enter the secret, or tick Generate." in missing.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("payload", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'])
def test_markup_in_fields_renders_inert(client, alice, client_a, payload):
    credential = make_credential(
        client=client_a, actor=alice, name=payload, username=payload, tags=[]
    )
    sign_in(client, alice)
    for path in pages(client_a, credential):
        html = client.get(path).content.decode()
        assert payload not in html, path
    listing = client.get(f"/clients/{client_a.slug}/credentials/").content.decode()
    assert escape(payload) in listing


@pytest.mark.django_db
def test_edit_with_empty_secret_keeps_it_and_a_new_secret_makes_a_version(client, alice, client_a):
    credential = make_credential(client=client_a, actor=alice)
    sign_in(client, alice)
    path = f"/clients/{client_a.slug}/credentials/{credential.pk}/edit/"
    form = client.get(path).content.decode()
    assert 'value="DC01 domain admin"' in form
    assert SECRET not in form
    assert NOTES not in form
    data = form_data(name="Renamed", secret="", notes="", totp_seed="", status="active")
    assert client.post(path, data).status_code == 302
    assert opened(credential, "secret") == SECRET
    assert opened(credential, "notes") == NOTES
    assert opened(credential, "totp_seed") == SEED
    assert not CredentialSecretVersion.objects.exists()
    data = form_data(secret="Rotated-View-1", status="exposed", reason="left the company")
    assert client.post(path, data).status_code == 302
    assert opened(credential, "secret") == "Rotated-View-1"
    assert CredentialSecretVersion.objects.get().reason == "left the company"
    assert Credential.objects.get(pk=credential.pk).status == "exposed"


@pytest.mark.django_db
def test_archive_needs_a_reason_and_removes_it_from_the_list(client, alice, client_a):
    credential = make_credential(client=client_a, actor=alice)
    sign_in(client, alice)
    path = f"/clients/{client_a.slug}/credentials/{credential.pk}/archive/"
    client.post(path, {"reason": ""})
    assert Credential.objects.get().status == "active"
    assert client.post(path, {"reason": "decommissioned"}).status_code == 302
    assert Credential.objects.get().status == "archived"
    link = f"/credentials/{credential.pk}/"
    assert link not in client.get(f"/clients/{client_a.slug}/credentials/").content.decode()
    archived = client.get(f"/clients/{client_a.slug}/credentials/?archived=1").content.decode()
    assert link in archived
    assert "Archived" in archived


@pytest.mark.django_db
def test_use_level_technician_sees_but_cannot_change(client, alice, bob, client_a):
    credential = make_credential(client=client_a, actor=alice)
    sign_in(client, bob)
    base = f"/clients/{client_a.slug}/credentials/"
    listing = client.get(base)
    assert listing.status_code == 200
    assert "Add credential" not in listing.content.decode()
    detail = client.get(f"{base}{credential.pk}/").content.decode()
    assert "Archive credential" not in detail
    assert "/edit/" not in detail
    assert client.get(f"{base}new/").status_code == 403
    assert client.get(f"{base}{credential.pk}/edit/").status_code == 403
    created = client.post(f"{base}new/", form_data(name="By Bob"))
    assert created.status_code == 403
    assert "Ask a manager" in created.content.decode()
    edited = client.post(f"{base}{credential.pk}/edit/", form_data(name="X", status="active"))
    assert edited.status_code == 403
    archived = client.post(f"{base}{credential.pk}/archive/", {"reason": "mine now"})
    assert archived.status_code == 403
    assert list(Credential.objects.values_list("name", "status")) == [
        ("DC01 domain admin", "active")
    ]
    denied = AuditEvent.objects.filter(outcome="denied", actor_user_id=bob.pk)
    assert sorted(denied.values_list("action", flat=True)) == [
        "credential.archived",
        "credential.created",
        "credential.updated",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["", "edit/", "archive/"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_technician_of_another_client_gets_404(client, alice, charlie, client_a, suffix, method):
    credential = make_credential(client=client_a, actor=alice)
    sign_in(client, charlie)
    path = f"/clients/{client_a.slug}/credentials/{credential.pk}/{suffix}"
    response = getattr(client, method)(path, form_data(status="active", reason="x"))
    assert response.status_code in ({404, 405} if suffix == "archive/" else {404})
    assert "DC01" not in response.content.decode()
    assert client.get("/credentials/?q=DC01").content.decode().count("DC01 domain admin") == 0


@pytest.mark.django_db
def test_cross_client_list_searches_and_filters_by_tag(
    client, alice, admin_user, client_a, client_b
):
    make_credential(client=client_a, actor=alice, name="Contoso VPN", tags=["vpn"])
    make_credential(client=client_b, actor=admin_user, name="Fabrikam VPN", tags=["vpn"])
    make_credential(client=client_b, actor=admin_user, name="Fabrikam NAS")
    sign_in(client, alice)
    html = client.get("/credentials/?q=vpn").content.decode()
    assert "Contoso VPN" in html
    assert "Fabrikam" not in html
    sign_in(client, admin_user)
    html = client.get("/credentials/?tag=vpn").content.decode()
    assert "Contoso VPN" in html
    assert "Fabrikam VPN" in html
    assert "Fabrikam NAS" not in html


def _count(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_pages_issue_a_constant_number_of_queries(
    client, alice, client_a, system_a, django_assert_num_queries
):
    first = make_credential(client=client_a, actor=alice, system=system_a, tags=["a", "b"])
    sign_in(client, alice)
    base = f"/clients/{client_a.slug}/credentials/"
    paths = {
        "list": base,
        "search": "/credentials/?q=dc01",
        "detail": f"{base}{first.pk}/",
        "edit": f"{base}{first.pk}/edit/",
    }
    one = {name: _count(client, path) for name, path in paths.items()}
    for n in range(19):
        make_credential(
            client=client_a, actor=alice, name=f"DC01 {n}", system=system_a, tags=[f"t{n}", "a"]
        )
    twenty = {name: _count(client, path) for name, path in paths.items()}
    # The detail of a high-privilege credential also reads the client's vault policy and
    # the credential's open checkouts (one query each); the search first looks up the
    # systems and tags that match (one query each).
    assert one == twenty == {"list": 12, "search": 13, "detail": 13, "edit": 12}
    for name, path in paths.items():
        with django_assert_num_queries(one[name]):
            client.get(path)


@pytest.mark.django_db
def test_a_credential_is_not_found_under_another_clients_address(
    client, admin_user, client_a, client_b
):
    credential_b = make_credential(client=client_b, actor=admin_user, name="Fabrikam NAS")
    sign_in(client, admin_user)
    for suffix in ("", "edit/"):
        path = f"/clients/{client_a.slug}/credentials/{credential_b.pk}/{suffix}"
        assert client.get(path).status_code == 404
    path = f"/clients/{client_a.slug}/credentials/{credential_b.pk}/archive/"
    assert client.post(path, {"reason": "wrong client"}).status_code == 404
    assert Credential.objects.get(pk=credential_b.pk).status == "active"


@pytest.mark.django_db
def test_new_credential_form_says_mfa_unknown_until_someone_knows(client, alice, client_a):
    sign_in(client, alice)
    body = client.get(f"/clients/{client_a.slug}/credentials/new/").content.decode()
    assert '<option value="unknown" selected>' in body


@pytest.mark.django_db
def test_global_search_reaches_credentials_of_visible_clients_only(
    client, alice, charlie, client_a, client_b, system_a
):
    visible = make_credential(client=client_a, actor=alice, name="Contoso SQL sa", system=system_a)
    hidden_manager = UserFactory(roles=["Manager"])
    assignment_grant(actor=None, client=client_b, user=hidden_manager, level=AccessLevel.MANAGE)
    make_credential(client=client_b, actor=hidden_manager, name="Fabrikam SQL sa")
    sign_in(client, alice)
    body = client.get("/search/", {"q": "SQL sa"}).content.decode()
    assert visible.name in body
    assert f"/clients/{client_a.slug}/credentials/{visible.pk}/" in body
    assert "Fabrikam SQL sa" not in body
    assert not any(canary in body for canary in CANARIES)
    sign_in(client, charlie)
    body = client.get("/search/", {"q": "SQL sa"}).content.decode()
    assert "Fabrikam SQL sa" in body
    assert visible.name not in body


@pytest.mark.django_db
def test_global_search_issues_a_constant_number_of_queries(client, alice, client_a, system_a):
    make_credential(client=client_a, actor=alice, name="DC01 admin", system=system_a)
    sign_in(client, alice)
    one = _count(client, "/search/?q=dc01")
    for n in range(15):
        make_credential(client=client_a, actor=alice, name=f"DC01 svc {n}", system=system_a)
    assert _count(client, "/search/?q=dc01") == one


@pytest.mark.django_db
def test_error_reports_mask_the_secret_notes_and_seed_posted_to_the_forms(charlie, client_a):
    from django.test import RequestFactory
    from django.views.debug import SafeExceptionReporterFilter

    from config.errors import NotFound
    from vault.views import credentials as views

    request = RequestFactory().post("/", form_data())
    request.user = charlie
    with pytest.raises(NotFound):
        views.credential_create(request, slug=client_a.slug)
    reported = SafeExceptionReporterFilter().get_post_parameters(request)
    for field in ("secret", "notes", "totp_seed"):
        assert reported[field] != form_data()[field]
    assert reported["username"] == "admin"
