"""Credentials in the REST API: metadata only outside reveal, filters and pagination, writes
through the vault's services, and reveal with a ticket, audited with the token's identity;
404 beyond a token's clients on every route and method (C50, C51, C53, C54)."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client as Browser
from django.utils import timezone
from rest_framework import serializers as drf

from audit.models import AuditEvent
from integrations.services.tokens import api_token_create
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import ClientFactory, SystemFactory
from tests.vault.test_credentials import NOTES, SECRET, SEED, make_credential, manager_of, opened
from tests.vault.test_history import active_lease
from vault.models import Credential, CredentialSecretVersion, CredentialType
from vault.selectors.credentials import credential_list_filtered, credential_tag_names_attach
from vault.serializers.credentials import CredentialSerializer
from vault.services import credential_archive, credential_update

CREDENTIALS = "/api/v1/credentials/"
PROBLEM = "application/problem+json"
NOT_FOUND = "Not found, or outside what this request may reach."
CANARIES = (SECRET, NOTES, SEED)
EVERY_SCOPE = ["credentials:read", "credentials:write", "credentials:reveal", "clients:read"]


def bearer(admin, *, scopes=EVERY_SCOPE, clients=()):
    token, plaintext = api_token_create(
        actor=admin,
        name="PSA sync",
        scopes=list(scopes),
        clients=list(clients),
        expires_at=timezone.now() + timedelta(days=30),
    )
    return token, {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def detail(credential) -> str:
    return f"{CREDENTIALS}{credential.pk}/"


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


def leaks(response) -> list[str]:
    return [canary for canary in CANARIES if canary.encode() in response.content]


def post(browser, path, body=None, **headers):
    return browser.post(path, body or {}, content_type="application/json", **headers)


def patch(browser, path, body, **headers):
    return browser.patch(path, body, content_type="application/json", **headers)


def standard(client, *, actor, **overrides):
    fields = {
        "name": "Front desk PC",
        "credential_type": CredentialType.STANDARD_USER,
        "username": "reception",
        **overrides,
    }
    return make_credential(client=client, actor=actor, **fields)


def reveals(outcome="success"):
    return AuditEvent.objects.filter(action="credential.revealed", outcome=outcome)


@pytest.fixture
def token_a(admin_user, client_a):
    """Every credentials scope, for an administrator of A and B, limited to client A."""
    return bearer(admin_user, clients=[client_a])


@pytest.fixture
def front_desk(admin_user, client_a, system_a):
    return standard(client_a, actor=admin_user, system=system_a, tags=["m365", "desk"])


@pytest.fixture
def credential_b(admin_user, client_b, system_b):
    return standard(client_b, actor=admin_user, name="Warehouse PC", system=system_b)


# --- Reading: metadata only ---------------------------------------------------------------


def test_list_and_detail_show_metadata_and_never_the_secret_notes_or_seed(
    token_a, front_desk, client_a, system_a
):
    _, headers = token_a
    browser = Browser()
    listed = browser.get(CREDENTIALS, **headers)
    assert listed.status_code == 200
    (item,) = listed.json()["results"]
    assert item == {
        "id": str(front_desk.pk),
        "client": {"id": str(client_a.pk), "name": "Contoso Dental"},
        "system": {"id": str(system_a.pk), "name": "DC01"},
        "name": "Front desk PC",
        "credential_type": "standard_user",
        "privilege_tier": "standard",
        "username": "reception",
        "access_method": "other",
        "host": "",
        "tags": ["desk", "m365"],
        "has_totp": True,
        "is_shared": False,
        "is_emergency": False,
        "seal_broken_at": None,
        "mfa_on_path": "unknown",
        "used_by": "",
        "source": "manual",
        "status": "active",
        "rotation_interval_days": None,
        "last_rotated_at": item["last_rotated_at"],
        "next_rotation_due_at": None,
        "rotation_required_at": None,
        "rotation_required_reason": "",
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }
    assert item["last_rotated_at"] is not None
    one = browser.get(detail(front_desk), **headers)
    assert one.json() == item
    for response in (listed, one, browser.get(CREDENTIALS, {"search": "front"}, **headers)):
        assert leaks(response) == []


@pytest.mark.django_db
def test_the_credential_representation_equals_drfs_generic_walk(client_a, system_a, time_machine):
    """CredentialSerializer builds its dict directly, for speed: field for field, DRF's."""
    time_machine.move_to(datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC), tick=False)
    make_credential(client=client_a, name="Plain", system=None)
    rotated = make_credential(
        client=client_a,
        name="Full",
        system=system_a,
        credential_type=CredentialType.SERVICE_ACCOUNT,
        rotation_interval_days=30,
        is_shared=True,
        used_by="Backup job",
        tags=["m365", "backup"],
    )
    credential_update(
        actor=manager_of(client_a), credential=rotated, status=Credential.Status.EXPOSED
    )
    admin = manager_of(client_a)
    rows = list(credential_list_filtered(actor=admin))
    assert len(rows) == 2
    credential_tag_names_attach(credentials=rows)
    assert {row.name: row.tag_names for row in rows} == {"Plain": [], "Full": ["backup", "m365"]}
    serializer = CredentialSerializer()
    for zone in ("UTC", "Europe/Berlin", "America/St_Johns"):
        with timezone.override(zone):
            for row in rows:
                fast = serializer.to_representation(row)
                generic = drf.Serializer.to_representation(serializer, row)
                assert fast == dict(generic)
                assert list(fast) == list(generic)


def test_no_get_route_carries_a_secret_even_after_writes_through_the_api(
    token_a, front_desk, client_a, system_a
):
    _, headers = token_a
    browser = Browser()
    created = post(
        browser,
        CREDENTIALS,
        {
            "client": str(client_a.pk),
            "name": "Backup NAS",
            "credential_type": "service_account",
            "secret": SECRET,
            "notes": NOTES,
            "totp_seed": SEED,
        },
        **headers,
    )
    assert created.status_code == 201
    changed = patch(browser, detail(front_desk), {"secret": SECRET + "-2"}, **headers)
    assert changed.status_code == 200
    responses = [created, changed]
    for path in (
        CREDENTIALS,
        detail(front_desk),
        f"{CREDENTIALS}{created.json()['id']}/",
        "/api/v1/clients/",
        f"/api/v1/clients/{client_a.pk}/",
        "/api/v1/systems/",
        f"/api/v1/systems/{system_a.pk}/",
    ):
        response = browser.get(path, **headers)
        assert response.status_code == 200
        responses.append(response)
    assert [leaks(response) for response in responses] == [[]] * len(responses)


def test_list_issues_the_same_queries_for_one_credential_or_thirty(
    admin_user, client_a, django_assert_num_queries
):
    _, headers = bearer(admin_user)
    browser = Browser()
    standard(client_a, actor=admin_user, tags=["m365"], system=SystemFactory(client=client_a))
    browser.get(CREDENTIALS, **headers)  # notes the token's first use (one UPDATE a minute)
    # The token (with whether it is limited to some clients), the count, the page, its tags.
    with django_assert_num_queries(4):
        assert browser.get(CREDENTIALS, **headers).json()["count"] == 1
    for index in range(29):
        system = SystemFactory(client=client_a) if index % 2 else None
        standard(client_a, actor=admin_user, name=f"PC {index}", tags=[f"t{index}"], system=system)
    with django_assert_num_queries(4):
        assert browser.get(CREDENTIALS, **headers).json()["count"] == 30


def test_page_size_is_clamped_to_a_thousand(admin_user, client_a):
    Credential.objects.bulk_create(
        Credential(
            client=client_a,
            name=f"Imported {index:04d}",
            credential_type=CredentialType.STANDARD_USER,
            privilege_tier="standard",
            secret=b"sealed",
            notes=b"sealed",
        )
        for index in range(1001)
    )
    _, headers = bearer(admin_user)
    body = Browser().get(CREDENTIALS, {"page_size": 1000000}, **headers).json()
    assert body["count"] == 1001
    assert len(body["results"]) == 1000
    assert body["next"] is not None
    page_two = Browser().get(CREDENTIALS, {"page_size": 1000000, "page": 2}, **headers).json()
    assert [c["name"] for c in page_two["results"]] == ["Imported 1000"]


def test_sealed_emergency_credentials_are_not_listed_and_refused_on_reveal(
    admin_user, token_a, client_a
):
    _, headers = token_a
    sealed = standard(client_a, actor=admin_user, name="Break glass", is_emergency=True)
    browser = Browser()
    assert browser.get(CREDENTIALS, **headers).json()["results"] == []
    assert browser.get(CREDENTIALS, {"search": "break"}, **headers).json()["count"] == 0
    assert browser.get(detail(sealed), **headers).json()["is_emergency"] is True
    body = problem(post(browser, f"{detail(sealed)}reveal/", {"ticket": "T-9"}, **headers), 403)
    assert "sealed emergency credential" in body["detail"]
    assert leaks(browser.get(detail(sealed), **headers)) == []
    assert reveals("denied").get().target_id == str(sealed.pk)


# --- Filters ------------------------------------------------------------------------------


def test_filters_client_type_tier_status_and_search(
    admin_user, client_a, client_b, front_desk, credential_b
):
    standard(
        client_a,
        actor=admin_user,
        name="Backup API",
        credential_type=CredentialType.API_KEY,
        host="backup.example.net",
    )
    old = standard(client_a, actor=admin_user, name="Old kiosk")
    browser = Browser()
    _, headers = bearer(admin_user)
    credential_archive(actor=admin_user, credential=old, reason="Kiosk removed")

    def names(**query):
        response = browser.get(CREDENTIALS, query, **headers)
        assert response.status_code == 200, response.content
        return [c["name"] for c in response.json()["results"]]

    assert names() == ["Backup API", "Front desk PC", "Warehouse PC"]
    assert names(client=str(client_b.pk)) == ["Warehouse PC"]
    assert names(credential_type="api_key") == ["Backup API"]
    assert names(tier="service") == ["Backup API"]
    assert names(tier="high") == []
    assert names(status="archived") == ["Old kiosk"]
    assert names(status="active", client=str(client_a.pk)) == ["Backup API", "Front desk PC"]
    assert names(search="backup.example") == ["Backup API"]  # host
    assert names(search="m365") == ["Front desk PC"]  # tag
    assert names(search="FS01") == ["Warehouse PC"]  # system name
    assert names(search="reception", client=str(client_b.pk)) == ["Warehouse PC"]  # username


def test_rotation_due_filter(admin_user, client_a, time_machine):
    time_machine.move_to(datetime(2025, 3, 1, 9, tzinfo=UTC), tick=False)
    long_ago = timezone.now() - timedelta(days=100)
    standard(
        client_a,
        actor=admin_user,
        name="Overdue",
        rotation_interval_days=90,
        last_rotated_at=long_ago,
    )
    standard(client_a, actor=admin_user, name="Fresh", rotation_interval_days=90)
    standard(client_a, actor=admin_user, name="No schedule")
    _, headers = bearer(admin_user)

    def names(**query):
        return [c["name"] for c in Browser().get(CREDENTIALS, query, **headers).json()["results"]]

    assert names(rotation_due="true") == ["Overdue"]
    assert names(rotation_due="false") == ["Fresh", "No schedule"]
    due = Browser().get(CREDENTIALS, {"rotation_due": "true"}, **headers).json()["results"][0]
    assert due["next_rotation_due_at"] == "2025-02-19T09:00:00Z"


def test_updated_since_keeps_changes_at_or_after_the_time(admin_user, client_a, time_machine):
    time_machine.move_to(datetime(2025, 3, 1, 9, tzinfo=UTC), tick=False)
    standard(client_a, actor=admin_user, name="Quiet")
    busy = standard(client_a, actor=admin_user, name="Busy")
    time_machine.move_to(datetime(2025, 3, 2, 9, tzinfo=UTC), tick=False)
    credential_update(actor=admin_user, credential=busy, host="pc1.contoso.example")
    _, headers = bearer(admin_user)

    def names(since):
        response = Browser().get(CREDENTIALS, {"updated_since": since}, **headers)
        return [c["name"] for c in response.json()["results"]]

    assert names("2025-03-02T09:00:00Z") == ["Busy"]
    assert names("2025-03-02T10:00:00+01:00") == ["Busy"]
    assert names("2025-03-01T09:00:00Z") == ["Busy", "Quiet"]
    assert names("2025-03-02T09:00:01Z") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2025-13-01T00:00:00Z"}, "updated_since"),
        ({"client": "contoso-dental"}, "client"),
        ({"tier": "root"}, "tier"),
        ({"status": "deleted"}, "status"),
        ({"rotation_due": "maybe"}, "rotation_due"),
        ({"credential_type": "password"}, "credential_type"),
    ],
)
def test_malformed_filters_are_400_naming_the_field(admin_user, query, field):
    _, headers = bearer(admin_user)
    body = problem(Browser().get(CREDENTIALS, query, **headers), 400)
    assert list(body["errors"]) == [field]
    if field == "updated_since":
        assert body["errors"][field] == [
            "Give an ISO 8601 date and time, e.g. 2025-01-31T09:00:00Z."
        ]


# --- Reach: a token limited to client A, people of other clients ---------------------------


def test_a_token_limited_to_client_a_gets_404_for_client_bs_credential_on_every_route(
    token_a, credential_b, client_b, system_a, system_b, client_a
):
    _, headers = token_a
    browser = Browser()
    url = detail(credential_b)
    before = AuditEvent.objects.count()
    answers = [
        browser.get(url, **headers),
        patch(browser, url, {"name": "Renamed"}, **headers),
        post(browser, f"{url}archive/", {"reason": "Gone"}, **headers),
        post(browser, f"{url}reveal/", {"ticket": "T-1"}, **headers),
        post(
            browser,
            CREDENTIALS,
            {"client": str(client_b.pk), "name": "X", "credential_type": "other", "secret": "s"},
            **headers,
        ),
        post(
            browser,
            CREDENTIALS,
            {
                "client": str(client_a.pk),
                "system": str(system_b.pk),
                "name": "X",
                "credential_type": "other",
                "secret": "s",
            },
            **headers,
        ),
    ]
    for response in answers:
        assert problem(response, 404)["detail"] == NOT_FOUND
    assert browser.get(CREDENTIALS, {"client": str(client_b.pk)}, **headers).json()["count"] == 0
    credential_b.refresh_from_db()
    assert (credential_b.name, credential_b.status) == ("Warehouse PC", "active")
    assert Credential.objects.count() == 1
    assert AuditEvent.objects.count() == before


def test_charlie_sees_none_of_client_as_credentials(charlie, front_desk, credential_b):
    browser = Browser()
    sign_in(browser, charlie)
    assert [c["name"] for c in browser.get(CREDENTIALS).json()["results"]] == ["Warehouse PC"]
    problem(browser.get(detail(front_desk)), 404)


def test_bob_with_use_level_reads_and_reveals_but_cannot_write(bob, client_a, front_desk):
    browser = Browser()
    sign_in(browser, bob)
    assert browser.get(detail(front_desk)).status_code == 200
    refused = [
        post(
            browser,
            CREDENTIALS,
            {"client": str(client_a.pk), "name": "X", "credential_type": "other", "secret": "s"},
        ),
        patch(browser, detail(front_desk), {"name": "Renamed"}),
        post(browser, f"{detail(front_desk)}archive/", {"reason": "Mine now"}),
    ]
    for response in refused:
        assert "this needs manage access" in problem(response, 403)["detail"]
    denied = AuditEvent.objects.filter(outcome="denied", actor_user_id=bob.pk)
    assert sorted(denied.values_list("action", flat=True)) == [
        "credential.archived",
        "credential.created",
        "credential.updated",
    ]
    front_desk.refresh_from_db()
    assert (front_desk.name, front_desk.status) == ("Front desk PC", "active")
    assert post(browser, f"{detail(front_desk)}reveal/").json()["secret"] == SECRET


# --- Scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "method", "suffix", "missing"),
    [
        (["credentials:write", "credentials:reveal"], "get", "", "credentials:read"),
        (["credentials:read", "credentials:reveal"], "patch", "", "credentials:write"),
        (["credentials:read", "credentials:reveal"], "post", "archive/", "credentials:write"),
        (["credentials:read", "credentials:write"], "post", "reveal/", "credentials:reveal"),
    ],
)
def test_a_token_without_the_scope_is_refused_403_and_audited(
    admin_user, front_desk, scopes, method, suffix, missing
):
    token, headers = bearer(admin_user, scopes=scopes)
    path = f"{detail(front_desk)}{suffix}"
    response = getattr(Browser(), method)(
        path, {"ticket": "T-1", "reason": "x"}, content_type="application/json", **headers
    )
    body = problem(response, 403)
    assert body["detail"] == f"This API token does not have the {missing} scope."
    event = AuditEvent.objects.get(action="api_token.scope_refused")
    assert event.details["scope"] == missing
    assert event.actor_ref == f"api_token:{token.pk}"
    assert not reveals().exists()
    assert leaks(response) == []


def test_a_token_without_credentials_write_cannot_create(admin_user, client_a):
    _, headers = bearer(admin_user, scopes=["credentials:read"])
    body = {"client": str(client_a.pk), "name": "X", "credential_type": "other", "secret": "s"}
    problem(post(Browser(), CREDENTIALS, body, **headers), 403)
    assert not Credential.objects.exists()


# --- Writes -------------------------------------------------------------------------------


def test_create_update_and_archive_go_through_the_services(token_a, client_a, system_a):
    token, headers = token_a
    browser = Browser()
    created = post(
        browser,
        CREDENTIALS,
        {
            "client": str(client_a.pk),
            "system": str(system_a.pk),
            "name": "DC01 local admin",
            "credential_type": "local_admin",
            "username": ".\\Administrator",
            "access_method": "rdp",
            "secret": SECRET,
            "notes": NOTES,
            "tags": ["DC", "backup"],
            "rotation_interval_days": 90,
        },
        **headers,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["privilege_tier"], body["tags"], body["has_totp"]) == (
        "high",
        ["backup", "dc"],
        False,
    )
    assert body["next_rotation_due_at"] is not None
    credential = Credential.objects.get(pk=body["id"])
    assert (opened(credential, "secret"), opened(credential, "notes")) == (SECRET, NOTES)
    event = AuditEvent.objects.get(action="credential.created")
    assert event.actor_ref == f"api_token:{token.pk}"

    changed = patch(
        browser,
        detail(credential),
        {"secret": "Rotated-Secret-1", "totp_seed": SEED, "system": None, "reason": "Leaked"},
        **headers,
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["system"], changed.json()["has_totp"]) == (None, True)
    assert opened(credential, "secret") == "Rotated-Secret-1"
    assert CredentialSecretVersion.objects.filter(credential=credential).count() == 1
    updated = AuditEvent.objects.get(action="credential.updated")
    assert updated.reason == "Leaked"
    assert updated.details["changed"] == ["last_rotated_at", "secret", "system", "totp_seed"]

    archived = post(
        browser, f"{detail(credential)}archive/", {"reason": "Server retired"}, **headers
    )
    assert archived.json()["status"] == "archived"
    assert AuditEvent.objects.get(action="credential.archived").reason == "Server retired"
    assert browser.get(CREDENTIALS, **headers).json()["count"] == 0
    again = problem(patch(browser, detail(credential), {"name": "Back"}, **headers), 400)
    assert "archived" in again["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "credential_type": "other"}, "secret"),
        ({"name": "X", "credential_type": "other", "secret": ""}, "secret"),
        ({"name": "", "credential_type": "other", "secret": "s"}, "name"),
        ({"name": "X", "credential_type": "root", "secret": "s"}, "credential_type"),
        ({"name": "X", "credential_type": "other", "secret": "s", "status": "archived"}, "status"),
        ({"name": "X", "credential_type": "other", "secret": "s", "reason": "why"}, "reason"),
        ({"name": "X", "credential_type": "other", "secret": "s", "client": None}, "client"),
    ],
)
def test_bad_input_on_create_is_400_naming_the_field(token_a, client_a, body, field):
    _, headers = token_a
    body = {"client": str(client_a.pk), **body}
    answer = problem(post(Browser(), CREDENTIALS, body, **headers), 400)
    assert field in answer["errors"]
    assert not Credential.objects.exists()


def test_a_credential_cannot_move_to_another_client(admin_user, front_desk, client_b):
    _, headers = bearer(admin_user)
    body = problem(
        patch(Browser(), detail(front_desk), {"client": str(client_b.pk)}, **headers), 400
    )
    assert list(body["errors"]) == ["client"]


def test_archive_needs_a_reason(token_a, front_desk):
    _, headers = token_a
    body = problem(post(Browser(), f"{detail(front_desk)}archive/", {}, **headers), 400)
    assert body["errors"] == {"reason": ["Say why this credential is being archived."]}
    front_desk.refresh_from_db()
    assert front_desk.status == "active"


# --- Reveal -------------------------------------------------------------------------------


def test_token_reveal_returns_the_secret_uncached_audited_once_with_the_token(admin_user, client_a):
    rfc_seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # RFC 6238's key, base32
    with time_machine.travel(datetime.fromtimestamp(1111111111, tz=UTC), tick=False):
        credential = standard(client_a, actor=admin_user, totp_seed=rfc_seed)
        token, headers = bearer(admin_user, clients=[client_a])
        response = post(
            Browser(),
            f"{detail(credential)}reveal/",
            {"ticket": " T-1042 ", "reason": "Printer set-up"},
            **headers,
        )
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "id": str(credential.pk),
        "name": "Front desk PC",
        "username": "reception",
        "secret": SECRET,
        "totp": {"code": "050471", "seconds_left": 29},
    }
    event = reveals().get()
    assert (event.actor_kind, event.actor_ref) == ("token", f"api_token:{token.pk}")
    assert (event.actor_user_id, event.ticket, event.reason) == (
        admin_user.pk,
        "T-1042",
        "Printer set-up",
    )
    assert event.details == {"field": "secret", "tier": "standard", "purpose": "reveal"}
    shown = AuditEvent.objects.get(action="credential.totp_code_shown")
    assert shown.actor_ref == f"api_token:{token.pk}"


@pytest.mark.parametrize("ticket", [None, "", "   "])
def test_token_reveal_without_a_ticket_is_400_and_audited_as_denied(token_a, front_desk, ticket):
    token, headers = token_a
    body = {} if ticket is None else {"ticket": ticket}
    response = post(Browser(), f"{detail(front_desk)}reveal/", body, **headers)
    answer = problem(response, 400)
    assert list(answer["errors"]) == ["ticket"]
    assert response["Cache-Control"] == "no-store"
    assert leaks(response) == []
    assert not reveals().exists()
    event = reveals("denied").get()
    assert (event.actor_ref, event.target_id) == (f"api_token:{token.pk}", str(front_desk.pk))
    assert "API token" in event.reason


def test_a_session_may_reveal_without_a_ticket_unless_the_client_asks_for_one(bob, front_desk):
    browser = Browser()
    sign_in(browser, bob)
    response = post(browser, f"{detail(front_desk)}reveal/")
    assert response.json()["secret"] == SECRET
    event = reveals().get()
    assert (event.actor_kind, event.actor_ref, event.actor_user_id) == ("user", "", bob.pk)


def test_a_session_keeps_csrf_for_reveal(bob, front_desk):
    browser = Browser(enforce_csrf_checks=True)
    sign_in(browser, bob)
    url = f"{detail(front_desk)}reveal/"
    refused = problem(post(browser, url, {"ticket": "T-1"}), 403)
    assert "CSRF" in refused["detail"]
    assert not reveals().exists()
    csrf = secrets.token_hex(16)
    browser.cookies[settings.CSRF_COOKIE_NAME] = csrf
    response = post(browser, url, {"ticket": "T-1"}, HTTP_X_CSRFTOKEN=csrf)
    assert response.json()["secret"] == SECRET
    assert reveals().count() == 1


def test_a_high_privilege_reveal_in_a_session_needs_recent_mfa_and_a_lease(
    alice, client_a, settings, time_machine
):
    settings.MFA_STEP_UP_MINUTES = 1
    time_machine.move_to(timezone.now(), tick=False)
    domain_admin = make_credential(client=client_a, actor=alice)
    browser = Browser()
    sign_in(browser, alice)
    url = f"{detail(domain_admin)}reveal/"
    assert "checkout" in problem(post(browser, url, {"ticket": "T-1"}), 403)["detail"]
    lease = active_lease(domain_admin, alice)
    time_machine.shift(timedelta(minutes=2))
    assert "recent MFA" in problem(post(browser, url, {"ticket": "T-1"}), 403)["detail"]
    sign_in(browser, alice)
    assert post(browser, url, {"ticket": "T-1"}).json()["secret"] == SECRET
    assert reveals().get().details["checkout"] == str(lease.pk)


def test_reveals_are_rate_limited_on_their_own(admin_user, token_a, front_desk, settings):
    settings.API_REVEAL_RATE = "2/h"
    _, headers = token_a
    browser = Browser()
    url = f"{detail(front_desk)}reveal/"
    for _ in range(2):
        assert post(browser, url, {"ticket": "T-1"}, **headers).status_code == 200
    refused = problem(post(browser, url, {"ticket": "T-1"}, **headers), 429)
    assert refused["status"] == 429
    assert int(post(browser, url, {"ticket": "T-1"}, **headers)["Retry-After"]) >= 1
    assert reveals().count() == 2
    # Metadata reads are not counted against reveals.
    assert browser.get(detail(front_desk), **headers).status_code == 200


def test_a_client_added_after_the_token_stays_outside_its_limit(admin_user):
    """A client created after the token is outside a token limited to other clients."""
    first = ClientFactory()
    assignment_grant(actor=None, client=first, user=admin_user, level=AccessLevel.MANAGE)
    _, headers = bearer(admin_user, clients=[first])
    later = ClientFactory()
    assignment_grant(actor=None, client=later, user=admin_user, level=AccessLevel.MANAGE)
    credential = standard(later, actor=admin_user)
    problem(post(Browser(), f"{detail(credential)}reveal/", {"ticket": "T-1"}, **headers), 404)
    assert not AuditEvent.objects.filter(action="credential.revealed").exists()
