"""The administrators' API token pages: the list, creation with the token shown once, and
revocation with a reason. Administrators only; everyone else gets 403."""

import re
from datetime import timedelta

import pytest
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from integrations.models import ApiToken
from integrations.services.tokens import api_token_create, api_token_revoke
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import ClientFactory, UserFactory

LIST = "/integrations/tokens/"
NEW = "/integrations/tokens/new/"
ME = "/api/v1/me/"


def revoke_url(token) -> str:
    return f"/integrations/tokens/{token.pk}/revoke/"


def make_token(admin, **extra):
    return api_token_create(
        actor=admin,
        name=extra.pop("name", "HaloPSA sync"),
        scopes=extra.pop("scopes", ["clients:read"]),
        expires_at=extra.pop("expires_at", timezone.now() + timedelta(days=30)),
        **extra,
    )


def form_data(**overrides) -> dict:
    return {
        "name": "HaloPSA sync",
        "scopes": ["clients:read", "credentials:read"],
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        "allowed_networks": "",
        **overrides,
    }


@pytest.fixture
def admin(client, admin_user):
    sign_in(client, admin_user)
    return admin_user


def html(response) -> str:
    return response.content.decode()


# --- Who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("person", ["alice", "bob", "charlie"])
def test_managers_and_technicians_get_403_on_every_token_page(request, admin_user, person):
    token, _ = make_token(admin_user)
    browser = Browser()
    sign_in(browser, request.getfixturevalue(person))
    for url in (LIST, NEW, revoke_url(token)):
        assert browser.get(url).status_code == 403
    assert browser.post(NEW, form_data()).status_code == 403
    assert browser.post(revoke_url(token), {"reason": "Mine now"}).status_code == 403
    assert ApiToken.objects.count() == 1
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_header_links_the_token_page_for_administrators_only(client, admin, bob):
    assert f'href="{LIST}"' in html(client.get("/"))
    browser = Browser()
    sign_in(browser, bob)
    assert f'href="{LIST}"' not in html(browser.get("/"))


# --- The list -------------------------------------------------------------------------------


def test_the_list_shows_each_token_with_its_facts_and_status(client, admin, client_a, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    live, plaintext = make_token(
        admin, name="HaloPSA sync", scopes=["clients:read", "intake:write"], clients=[client_a]
    )
    Browser().get(ME, HTTP_AUTHORIZATION=f"Bearer {plaintext}", REMOTE_ADDR="192.0.2.44")
    expiring, _ = make_token(
        admin, name="Old backup script", expires_at=timezone.now() + timedelta(minutes=1)
    )
    revoked, _ = make_token(admin, name="Replaced RMM")
    api_token_revoke(actor=admin, token=revoked, reason="Integration replaced")
    time_machine.shift(timedelta(minutes=2))

    page = html(client.get(LIST))

    rows = {
        name: re.search(rf'<tr data-token="{prefix}"[^>]*>(.*?)</tr>', page, re.S).group(1)
        for name, prefix in [
            ("live", live.prefix),
            ("expired", expiring.prefix),
            ("revoked", revoked.prefix),
        ]
    }
    assert "HaloPSA sync" in rows["live"]
    assert f"<code>{live.prefix}…</code>" in rows["live"]
    assert admin.full_name in rows["live"]
    assert "clients:read" in rows["live"]
    assert "intake:write" in rows["live"]
    assert client_a.name in rows["live"]
    assert live.expires_at.strftime("%Y-%m-%d %H:%M") in rows["live"]
    assert "192.0.2.44" in rows["live"]
    assert "Live" in rows["live"]
    assert "All my clients" in rows["expired"]
    assert "Expired" in rows["expired"]
    assert "never" in rows["expired"]  # never used
    assert "Revoked" in rows["revoked"]
    assert "Integration replaced" in rows["revoked"]
    assert "Revoke" not in rows["revoked"].replace("Revoked", "")
    assert live.token_hash not in page
    assert plaintext not in page


def test_clients_another_administrator_limited_a_token_to_are_counted_not_named(
    client, admin, client_a
):
    hidden = ClientFactory(name="Northwind Traders")
    other_admin = UserFactory(roles=[Role.ADMINISTRATOR])
    for each in (client_a, hidden):
        assignment_grant(actor=None, client=each, user=other_admin, level=AccessLevel.VIEW)
    token, _ = make_token(other_admin, clients=[client_a, hidden])
    page = html(client.get(LIST))
    assert client_a.name in page
    assert "Northwind Traders" not in page
    assert "1 client you are not assigned to" in page
    assert token.prefix in page


def test_the_list_reads_a_constant_number_of_queries(
    client, admin, client_a, client_b, django_assert_num_queries
):
    make_token(admin, clients=[client_a])
    client.get(LIST)
    with django_assert_num_queries(10):
        client.get(LIST)
    for number in range(6):
        token, _ = make_token(admin, name=f"Script {number}", clients=[client_a, client_b])
        if number % 2:
            api_token_revoke(actor=admin, token=token, reason="Done")
    with django_assert_num_queries(10):
        response = client.get(LIST)
    assert html(response).count("<tr data-token=") == 7


# --- Create ---------------------------------------------------------------------------------


def test_the_form_offers_every_scope_by_its_label_and_only_the_administrators_clients(
    client, admin, client_a, client_b
):
    ClientFactory(name="Northwind Traders")
    page = html(client.get(NEW))
    assert "Reveal secrets (credentials:reveal)" in page
    assert "Submit intake entries (intake:write)" in page
    assert client_a.name in page
    assert client_b.name in page
    assert "Northwind Traders" not in page
    assert 'type="date"' in page


def test_creating_a_token_shows_it_once_with_a_copy_button(client, admin, client_a):
    response = client.post(
        NEW,
        form_data(
            clients=[str(client_a.pk)],
            allowed_networks="203.0.113.7/24\n\n2001:db8::1/48\n",
        ),
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = html(response)
    plaintext = re.search(r'id="api-token-value"[^>]*value="(kh_[^"]+)"', page).group(1)
    assert 'data-copy-from="api-token-value"' in page
    assert "<script>" not in page  # the copy button is the static keyhold.js (CSP)
    assert "shown only this once" in page

    token = ApiToken.objects.get()
    assert token.name == "HaloPSA sync"
    assert token.scopes == ["clients:read", "credentials:read"]
    assert list(token.clients.all()) == [client_a]
    assert token.allowed_networks == ["2001:db8::/48", "203.0.113.0/24"]
    expected = timezone.localdate() + timedelta(days=31)
    assert timezone.localtime(token.expires_at).date() == expected
    assert token.created_by == admin
    event = AuditEvent.objects.get(action="api_token.created")
    assert (event.outcome, event.actor_user_id) == ("success", admin.pk)

    # Never again: not on the list, and the token works.
    assert plaintext not in html(client.get(LIST))
    assert token.prefix in html(client.get(LIST))
    from_office = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}", "REMOTE_ADDR": "203.0.113.9"}
    assert Browser().get(ME, **from_office).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"scopes": []}, "scopes", "This field is required."),
        ({"expires_on": ""}, "expires_on", "This field is required."),
        ({"expires_on": "days"}, "expires_on", "Enter a valid date."),
        ({"expires_on": "2001-01-01"}, "expires_on", "The expiry must be in the future."),
        ({"expires_on": "far"}, "expires_on", "A token may live at most 365 days"),
        ({"allowed_networks": "10.0.0.0/8\nthe office"}, "allowed_networks", "is not an address"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_nothing_is_created(
    client, admin, overrides, field, message
):
    if overrides.get("expires_on") == "far":
        overrides["expires_on"] = (timezone.localdate() + timedelta(days=400)).isoformat()
    response = client.post(NEW, form_data(**overrides))
    assert response.status_code == 400
    page = html(response)
    assert "no token was created" in page
    assert message in page
    assert response.context["form"].errors[field]
    assert 'value="HaloPSA sync"' in page or field == "name"
    assert not ApiToken.objects.exists()


def test_a_client_the_administrator_cannot_see_is_refused(client, admin):
    elsewhere = ClientFactory(name="Northwind Traders")
    response = client.post(NEW, form_data(clients=[str(elsewhere.pk)]))
    assert response.status_code == 400
    assert response.context["form"].errors["clients"]
    assert not ApiToken.objects.exists()


# --- Revoke ---------------------------------------------------------------------------------


def test_revoking_needs_a_reason_and_stops_the_token_at_once(client, admin):
    token, plaintext = make_token(admin)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    page = html(client.get(revoke_url(token)))
    assert "Revoke HaloPSA sync" in page
    assert token.prefix in page

    refused = client.post(revoke_url(token), {"reason": "  "})
    assert refused.status_code == 400
    assert Browser().get(ME, **headers).status_code == 200

    response = client.post(revoke_url(token), {"reason": "Leaked in a ticket"})
    assert response.status_code == 302
    assert response["Location"] == LIST
    token.refresh_from_db()
    assert (token.revoked_by, token.revoke_reason) == (admin, "Leaked in a ticket")
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert (event.actor_user_id, event.reason) == (admin.pk, "Leaked in a ticket")
    assert "is revoked; it no longer works" in html(client.get(LIST))
    assert Browser().get(ME, **headers).status_code == 401


def test_a_revoked_token_cannot_be_revoked_again(client, admin):
    token, _ = make_token(admin)
    api_token_revoke(actor=admin, token=token, reason="Replaced")
    assert "was revoked on" in html(client.get(revoke_url(token)))
    response = client.post(revoke_url(token), {"reason": "Again"})
    assert response.status_code == 400
    assert "already revoked" in html(response)
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_an_unknown_token_is_404(client, admin):
    assert (
        client.get("/integrations/tokens/00000000-0000-4000-8000-000000000000/revoke/").status_code
        == 404
    )
