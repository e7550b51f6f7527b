"""API tokens: shown once and stored as a hash, accepted only in headers, refused (and
audited) when unknown, revoked, expired, of an inactive creator or from a wrong address."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Role
from accounts.services import user_deactivate
from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, NotFound
from integrations.models import ApiToken
from integrations.services.tokens import api_token_create, api_token_revoke
from integrations.tokens import token_hash
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import UserFactory

ME = "/api/v1/me/"
REFUSED = "Invalid or expired API token."


@pytest.fixture
def admin(db):
    return UserFactory(email="ada@msp.example", roles=[Role.ADMINISTRATOR])


def make_token(admin, **extra):
    extra.setdefault("expires_at", timezone.now().replace(microsecond=0) + timedelta(days=30))
    return api_token_create(
        actor=admin, name=extra.pop("name", "PSA sync"), scopes=["clients:read"], **extra
    )


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def refusals(code):
    return AuditEvent.objects.filter(action="api_token.refused", outcome="denied", reason=code)


def test_create_stores_only_the_hash_and_audits_without_the_token(admin):
    token, plaintext = make_token(admin)
    assert plaintext.startswith("kh_")
    assert len(plaintext) > 40
    assert token.prefix == plaintext[:10]
    assert token.token_hash == token_hash(plaintext) != plaintext
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM integrations_apitoken")
        row = cursor.fetchall()
    assert plaintext not in repr(row)
    assert plaintext[10:] not in repr(row)
    event = AuditEvent.objects.get(action="api_token.created")
    assert (event.actor_user_id, event.details["prefix"]) == (admin.pk, token.prefix)
    assert event.details["scopes"] == ["clients:read"]
    assert plaintext[10:] not in repr(event.details)


def test_only_administrators_create_tokens_and_the_refusal_is_audited(db):
    technician = UserFactory(roles=[Role.TECHNICIAN])
    with pytest.raises(AccessDenied):
        make_token(technician)
    assert not ApiToken.objects.exists()
    assert AuditEvent.objects.get(action="api_token.created", outcome="denied")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"scopes": []}, "scopes"),
        ({"scopes": ["credentials:everything"]}, "scopes"),
        ({"allowed_networks": ["10.0.0.0/33"]}, "allowed_networks"),
        ({"allowed_networks": ["not-a-network"]}, "allowed_networks"),
        ({"expires_at": "past"}, "expires_at"),
        ({"expires_at": None}, "expires_at"),
        ({"expires_at": "too far"}, "expires_at"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_input_is_refused_in_plain_words(admin, extra, field):
    expiries = {
        "past": timezone.now() - timedelta(minutes=1),
        "too far": timezone.now() + timedelta(days=367),
    }
    if extra.get("expires_at") in expiries:
        extra["expires_at"] = expiries[extra["expires_at"]]
    kwargs = {
        "actor": admin,
        "name": "PSA",
        "scopes": ["clients:read"],
        "expires_at": timezone.now() + timedelta(days=30),
        **extra,
    }
    with pytest.raises(FieldInvalid) as error:
        api_token_create(**kwargs)
    assert error.value.field == field
    assert not ApiToken.objects.exists()


def test_clients_must_be_ones_the_administrator_sees(admin, client_a, client_b):
    assignment_grant(actor=None, client=client_a, user=admin, level=AccessLevel.VIEW)
    token, _ = make_token(admin, clients=[client_a])
    assert list(token.clients.all()) == [client_a]
    with pytest.raises(NotFound):
        make_token(admin, name="Other", clients=[client_b])
    assert ApiToken.objects.count() == 1


def test_networks_are_normalised(admin):
    token, _ = make_token(admin, allowed_networks=["192.0.2.7/24", "2001:db8::1/48"])
    assert token.allowed_networks == ["192.0.2.0/24", "2001:db8::/48"]


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_bearer_and_x_api_key_both_work(admin, header):
    token, plaintext = make_token(admin)
    headers = bearer(plaintext) if header == "bearer" else {"HTTP_X_API_KEY": plaintext}
    response = Browser().get(ME, **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["user"] == {"email": admin.email}
    assert body["token"] == {
        "name": "PSA sync",
        "prefix": token.prefix,
        "scopes": ["clients:read"],
        "expires_at": token.expires_at.isoformat().replace("+00:00", "Z"),
    }
    assert plaintext not in response.content.decode()


def test_a_token_in_the_query_string_is_never_accepted(admin):
    _, plaintext = make_token(admin)
    for name in ("token", "api_key", "x-api-key", "access_token"):
        response = Browser().get(f"{ME}?{name}={plaintext}")
        assert response.status_code == 401


def test_no_credentials_gets_401_not_a_redirect_to_login(db):
    response = Browser().get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def _revoked(admin):
    token, plaintext = make_token(admin)
    api_token_revoke(actor=admin, token=token, reason="Integration replaced")
    return token, plaintext, {}


def _expired(admin, time_machine):
    token, plaintext = make_token(admin, expires_at=timezone.now() + timedelta(days=1))
    time_machine.move_to(timezone.now() + timedelta(days=1, seconds=1))
    return token, plaintext, {}


def _wrong_address(admin):
    token, plaintext = make_token(admin, allowed_networks=["203.0.113.0/24"])
    return token, plaintext, {"REMOTE_ADDR": "198.51.100.9"}


def _inactive_creator(admin):
    token, plaintext = make_token(admin)
    type(admin).objects.filter(pk=admin.pk).update(is_active=False)
    return token, plaintext, {}


@pytest.mark.parametrize("code", ["revoked", "expired", "address", "inactive_creator", "unknown"])
def test_refused_tokens_get_401_with_one_message_and_are_audited(admin, time_machine, code):
    if code == "unknown":
        token, plaintext, extra = None, "kh_" + "x" * 43, {}
    elif code == "expired":
        token, plaintext, extra = _expired(admin, time_machine)
    else:
        token, plaintext, extra = {
            "revoked": _revoked,
            "address": _wrong_address,
            "inactive_creator": _inactive_creator,
        }[code](admin)
    response = Browser().get(ME, **bearer(plaintext), **extra)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": REFUSED,
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    event = refusals(code).get()
    assert event.details["prefix"] == (token.prefix if token else "")
    assert plaintext[10:] not in repr(event.details) + event.actor_label + event.reason
    if token is not None:
        token.refresh_from_db()
        assert token.last_used_at is None


def test_an_allowed_address_behind_a_trusted_proxy_is_accepted(admin, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    _, plaintext = make_token(admin, allowed_networks=["203.0.113.0/24"])
    inside = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    assert Browser().get(ME, **bearer(plaintext), **inside).status_code == 200
    spoofed = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.5, 198.51.100.9"}
    assert Browser().get(ME, **bearer(plaintext), **spoofed).status_code == 401


def test_last_used_is_written_at_most_once_a_minute(admin, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    token, plaintext = make_token(admin)
    browser = Browser()
    browser.get(ME, **bearer(plaintext), REMOTE_ADDR="192.0.2.10")
    token.refresh_from_db()
    first = token.last_used_at
    assert (first, token.last_used_ip) == (timezone.now(), "192.0.2.10")
    time_machine.shift(timedelta(seconds=30))
    browser.get(ME, **bearer(plaintext), REMOTE_ADDR="192.0.2.11")
    token.refresh_from_db()
    assert (token.last_used_at, token.last_used_ip) == (first, "192.0.2.10")
    time_machine.shift(timedelta(seconds=31))
    browser.get(ME, **bearer(plaintext), REMOTE_ADDR="192.0.2.11")
    token.refresh_from_db()
    assert (token.last_used_at, token.last_used_ip) == (timezone.now(), "192.0.2.11")


def test_a_session_that_passed_mfa_may_use_the_api_one_without_mfa_may_not(admin):
    browser = Browser()
    sign_in(browser, admin, verified=False)
    assert browser.get(ME).status_code == 401
    sign_in(browser, admin, verified=True)
    response = browser.get(ME)
    assert response.status_code == 200
    assert response.json() == {"token": None, "user": {"email": admin.email}}


def test_session_requests_keep_csrf(admin):
    browser = Browser(enforce_csrf_checks=True)
    sign_in(browser, admin)
    response = browser.post(ME, data="{}", content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_revoke_is_for_administrators_and_audited(admin):
    token, _ = make_token(admin)
    with pytest.raises(AccessDenied):
        api_token_revoke(actor=UserFactory(), token=token, reason="No")
    api_token_revoke(actor=None, token=token, reason="Leaked in a ticket")
    event = AuditEvent.objects.get(action="api_token.revoked", outcome="success")
    assert (event.actor_user_id, event.reason) == (None, "Leaked in a ticket")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_deactivating_the_creator_revokes_every_live_token_in_one_event(
    admin, django_capture_on_commit_callbacks
):
    other_admin = UserFactory(roles=[Role.ADMINISTRATOR])
    first, _ = make_token(admin)
    second, _ = make_token(admin, name="Backup reports")
    kept, _ = make_token(other_admin, name="Not theirs")
    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate(actor=other_admin, user=admin)
    assert set(ApiToken.objects.filter(revoked_at__isnull=False)) == {first, second}
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert (event.actor_user_id, event.actor_label) == (None, "offboarding")
    assert event.details["count"] == 2
    kept.refresh_from_db()
    assert kept.revoked_at is None


def test_the_command_prints_a_working_token_once(admin, client_a):
    assignment_grant(actor=None, client=client_a, user=admin, level=AccessLevel.VIEW)
    out = io.StringIO()
    call_command(
        "create_api_token",
        "--name=PSA",
        "--scopes=clients:read,credentials:read",
        f"--clients={client_a.slug}",
        f"--expires={(timezone.now() + timedelta(days=30)).date().isoformat()}",
        f"--actor={admin.email}",
        stdout=out,
    )
    plaintext = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get()
    assert token.token_hash == token_hash(plaintext)
    assert list(token.clients.all()) == [client_a]
    assert Browser().get(ME, **bearer(plaintext)).json()["token"]["scopes"] == [
        "clients:read",
        "credentials:read",
    ]


def test_the_command_gives_a_token_without_expires_ninety_days(admin, time_machine):
    time_machine.move_to(datetime(2026, 3, 10, 15, 0, tzinfo=UTC), tick=False)
    out = io.StringIO()
    call_command(
        "create_api_token", "--name=PSA", "--scopes=clients:read", f"--actor={admin.email}",
        stdout=out,
    )  # fmt: skip
    # 90 days from 10 March is 8 June; the token works through that day.
    assert ApiToken.objects.get().expires_at == datetime(2026, 6, 9, tzinfo=UTC)
    assert "expires 2026-06-09 00:00 UTC" in out.getvalue()


def test_the_command_refuses_an_expiry_beyond_the_longest_a_token_may_live(admin, settings):
    settings.API_TOKEN_MAX_DAYS = 30
    later = (timezone.now() + timedelta(days=45)).date().isoformat()
    with pytest.raises(CommandError, match="at most 30 days"):
        call_command(
            "create_api_token", "--name=PSA", "--scopes=clients:read", f"--expires={later}",
            f"--actor={admin.email}",
        )  # fmt: skip
    assert not ApiToken.objects.exists()


def test_the_command_refuses_a_technician(db):
    technician = UserFactory(roles=[Role.TECHNICIAN])
    with pytest.raises(CommandError, match="Only administrators"):
        call_command(
            "create_api_token", "--name=PSA", "--scopes=clients:read", f"--actor={technician.email}"
        )
    assert not ApiToken.objects.exists()
