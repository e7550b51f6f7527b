"""One-time share links (C32, C46, C48, C60-C63): creation, the contact's pages, the panel.

Actions covered here, one event each: share_link.created, share_link.revoked,
share_link.opened, share_link.revealed, share_link.expired.
"""

import hashlib
import json
import logging
import re
from datetime import timedelta

import pytest
import structlog
import time_machine
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Notification
from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest, NotFound
from config.logging import build_logging_config
from tenants.models import AccessLevel, Client
from tenants.services import assignment_grant
from tests.audit.helpers import break_audit_inserts
from tests.conftest import sign_in
from tests.factories import UserFactory
from tests.vault.test_credentials import SECRET, make_credential
from vault import tasks
from vault.envelope import field_decrypt
from vault.models import SHARE_LINK_RECORD_TYPE, Credential, CredentialType, ShareLink
from vault.services import share_links as services

GONE = "This link has expired or has already been used"
USERNAME = "frontdesk"
HOST = "pc01.contoso.local"


@pytest.fixture
def credential(client_a):
    return make_credential(
        client=client_a,
        name="Front desk PC",
        credential_type=CredentialType.STANDARD_USER,
        username=USERNAME,
        host=HOST,
    )


@pytest.fixture
def dave(client_a):
    """A second technician with use access to client A."""
    user = UserFactory(email="dave@msp.example")
    assignment_grant(actor=None, client=client_a, user=user, level=AccessLevel.USE)
    return user


def share(actor, credential, **fields):
    return services.share_link_create(
        actor=actor, credential=credential, recipient=fields.pop("recipient", "Pat"), **fields
    )


def events(action, **filters):
    return AuditEvent.objects.filter(action=action, **filters)


def contact(token) -> Browser:
    """A client contact's browser that followed the link (token now in its session)."""
    browser = Browser()
    response = browser.get(f"/share/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/share/"
    return browser


def reveal(browser, passphrase=""):
    return browser.post("/share/", {"passphrase": passphrase} if passphrase else {})


def fresh(link) -> ShareLink:
    return ShareLink.objects.get(pk=link.pk)


# --- Creation ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_stores_only_the_token_hash_and_a_sealed_payload_with_one_event(
    bob, client_a, credential
):
    link, token = share(bob, credential, recipient="Pat at Contoso", passphrase="")
    row = fresh(link)
    assert len(token) >= 43
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.created_by_id, row.client_id, row.max_views, row.views) == (
        bob.pk,
        client_a.pk,
        1,
        0,
    )
    assert timedelta(hours=23, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=24)
    stored = "|".join(str(value) for value in ShareLink.objects.values_list().get())
    assert token not in stored
    assert SECRET.encode() not in bytes(row.payload)
    with transaction.atomic():
        opened = field_decrypt(
            client=client_a,
            record_type=SHARE_LINK_RECORD_TYPE,
            record_id=str(row.pk),
            field="payload",
            sealed=row.payload,
        )
    assert json.loads(opened) == {
        "name": "Front desk PC",
        "host": HOST,
        "username": USERNAME,
        "secret": SECRET,
    }
    event = events("share_link.created").get()
    assert (event.actor_user_id, event.client_id, event.outcome) == (bob.pk, client_a.pk, "success")
    assert event.target_id == str(credential.pk)
    assert event.details == {
        "share_link": str(link.pk),
        "recipient": "Pat at Contoso",
        "expires_in_hours": 24,
        "max_views": 1,
        "phrase_required": False,
    }
    assert token not in str(event.details)
    assert SECRET not in str(event.details)


@pytest.mark.django_db
def test_tokens_are_256_bit_random_and_unique(bob, credential):
    tokens = {share(bob, credential)[1] for _ in range(20)}
    assert len(tokens) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)


@pytest.mark.django_db
def test_passphrase_is_stored_as_a_password_hash(bob, credential):
    link, _ = share(bob, credential, passphrase="blue-harbour-42")
    row = fresh(link)
    assert row.passphrase_hash.startswith(("pbkdf2", "argon2", "md5", "bcrypt", "scrypt"))
    assert "blue-harbour-42" not in row.passphrase_hash
    assert events("share_link.created").get().details["phrase_required"] is True


@pytest.mark.django_db
def test_high_privilege_and_emergency_credentials_cannot_be_shared(alice, client_a):
    admin = make_credential(client=client_a, credential_type=CredentialType.DOMAIN_ADMIN)
    with pytest.raises(AccessDenied, match="High-privilege and sealed emergency"):
        share(alice, admin)
    sealed = make_credential(
        client=client_a, name="Break glass", credential_type=CredentialType.STANDARD_USER
    )
    Credential.objects.filter(pk=sealed.pk).update(is_emergency=True)
    with pytest.raises(AccessDenied, match="High-privilege and sealed emergency"):
        share(alice, Credential.objects.get(pk=sealed.pk))
    assert not ShareLink.objects.exists()
    assert events("share_link.created", outcome="denied").count() == 2


@pytest.mark.django_db
def test_view_level_is_refused_and_another_clients_technician_gets_not_found(
    client_a, charlie, credential
):
    viewer = UserFactory(email="vic@msp.example")
    assignment_grant(actor=None, client=client_a, user=viewer, level=AccessLevel.VIEW)
    with pytest.raises(AccessDenied, match="needs use access"):
        share(viewer, credential)
    with pytest.raises(NotFound):
        share(charlie, credential)
    assert not ShareLink.objects.exists()
    assert events("share_link.created", outcome="denied").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"recipient": "  "}, "Say who the link is for"),
        ({"expires_in_hours": 0}, "expiry in hours"),
        ({"expires_in_hours": 169}, "expiry in hours"),
        ({"max_views": 0}, "number of views"),
        ({"max_views": 11}, "number of views"),
        ({"passphrase": "abc"}, "A passphrase is 6"),
    ],
)
def test_create_validates_its_input(bob, credential, fields, message):
    with pytest.raises(InvalidRequest, match=message):
        share(bob, credential, **fields)
    assert not ShareLink.objects.exists()


# --- The contact's pages -------------------------------------------------------------------------


@pytest.mark.django_db
def test_opening_consumes_nothing_even_for_link_checkers(bob, credential):
    """C61: GETs (a mail scanner, a chat unfurler, the contact twice) leave the link usable."""
    link, token = share(bob, credential)
    scanner = Browser(HTTP_USER_AGENT="Slackbot-LinkExpanding 1.0")
    assert scanner.get(f"/share/{token}/").status_code == 302
    assert scanner.get("/share/").status_code == 200
    browser = contact(token)
    for _ in range(2):
        page = browser.get("/share/")
        assert page.status_code == 200
        body = page.content.decode()
        assert ">Reveal</button>" in body
        assert SECRET not in body
        assert USERNAME not in body
        assert "Front desk PC" not in body
    row = fresh(link)
    assert (row.views, row.payload is not None) == (0, True)
    opened = events("share_link.opened")
    assert opened.count() == 3
    assert {(e.actor_user_id, e.actor_kind, e.outcome) for e in opened} == {
        (None, "anonymous", "success")
    }
    assert not events("share_link.revealed").exists()
    assert reveal(browser).status_code == 200


@pytest.mark.django_db
def test_one_page_open_leaves_exactly_one_opened_event(bob, client_a, credential):
    _, token = share(bob, credential)
    contact(token).get("/share/")
    event = events("share_link.opened").get()
    assert (event.client_id, event.actor_user_id, event.outcome) == (client_a.pk, None, "success")
    assert event.actor_label == services.LINK_HOLDER


@pytest.mark.django_db
def test_first_reveal_shows_the_secret_and_wipes_it_the_second_is_refused(
    bob, client_a, credential
):
    link, token = share(bob, credential)
    browser = contact(token)
    response = reveal(browser)
    assert response.status_code == 200
    body = response.content.decode()
    assert SECRET in body
    assert USERNAME in body
    assert HOST in body
    assert "Front desk PC" in body
    row = fresh(link)
    assert (row.views, row.payload, row.last_viewed_at is not None) == (1, None, True)
    event = events("share_link.revealed").get()
    assert (event.client_id, event.actor_user_id, event.outcome) == (client_a.pk, None, "success")
    assert event.details == {
        "share_link": str(link.pk),
        "view": 1,
        "max_views": 1,
        "used_up": True,
    }
    assert SECRET not in str(event.details)
    assert not Notification.objects.filter(user=bob).exists()

    again = contact(token)
    refused = reveal(again)
    assert refused.status_code == 410
    assert GONE in refused.content.decode()
    assert SECRET not in refused.content.decode()
    denied = events("share_link.revealed", outcome="denied").get()
    assert denied.reason == "used"
    # C60 malfeasance detection: the creator hears that the used link was hit again.
    notice = Notification.objects.get(user=bob)
    assert "Front desk PC" in notice.message
    assert "rotate" in notice.message
    assert token not in notice.message
    assert SECRET not in notice.message


@pytest.mark.django_db
def test_a_link_with_several_views_wipes_its_payload_on_the_last(bob, credential):
    link, token = share(bob, credential, max_views=2)
    browser = contact(token)
    first = reveal(browser)
    assert SECRET in first.content.decode()
    assert "1 more time" in first.content.decode()
    assert fresh(link).payload is not None
    second = reveal(browser)
    assert SECRET in second.content.decode()
    assert fresh(link).payload is None
    assert reveal(contact(token)).status_code == 410
    assert events("share_link.revealed", outcome="success").count() == 2


@pytest.mark.django_db
def test_unknown_and_used_links_get_identical_responses(bob, credential):
    _, token = share(bob, credential)
    reveal(contact(token))
    used, unknown = contact(token), contact("x" * 43)
    for method in ("get", "post"):
        a, b = getattr(used, method)("/share/"), getattr(unknown, method)("/share/")
        assert (a.status_code, a.content) == (b.status_code, b.content)
        assert a.status_code == 410
        assert GONE in a.content.decode()
    # A session that never held a link gets the same page too.
    empty = Browser().get("/share/")
    assert (empty.status_code, empty.content) == (a.status_code, a.content)


@pytest.mark.django_db
def test_expired_link_is_refused_and_the_creator_is_told(bob, credential):
    link, token = share(bob, credential, expires_in_hours=1)
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        assert contact(token).get("/share/").status_code == 410
        response = reveal(contact(token))
    assert response.status_code == 410
    assert SECRET not in response.content.decode()
    assert fresh(link).views == 0
    assert events("share_link.opened", outcome="denied").get().reason == "expired"
    assert events("share_link.revealed", outcome="denied").get().reason == "expired"
    # Two hits, one unread notice: a burst of hits is one alert.
    assert Notification.objects.filter(user=bob).count() == 1


@pytest.mark.django_db
def test_revoked_link_is_refused(bob, client_a, credential):
    link, token = share(bob, credential)
    browser = contact(token)
    services.share_link_revoke(actor=bob, link=link)
    row = fresh(link)
    assert (row.payload, row.revoked_by_id, row.revoked_at is not None) == (None, bob.pk, True)
    event = events("share_link.revoked").get()
    assert (event.actor_user_id, event.client_id, event.outcome) == (bob.pk, client_a.pk, "success")
    response = reveal(browser)
    assert response.status_code == 410
    assert SECRET not in response.content.decode()
    assert events("share_link.revealed", outcome="denied").get().reason == "revoked"
    with pytest.raises(InvalidRequest, match="nothing to revoke"):
        services.share_link_revoke(actor=bob, link=link)


@pytest.mark.django_db
def test_only_the_creator_or_a_manager_may_revoke(alice, bob, dave, charlie, credential):
    link, _ = share(bob, credential)
    with pytest.raises(AccessDenied, match="Only the person who created this link"):
        services.share_link_revoke(actor=dave, link=link)
    with pytest.raises(NotFound):
        services.share_link_revoke(actor=charlie, link=link)
    assert fresh(link).revoked_at is None
    services.share_link_revoke(actor=alice, link=link)
    assert fresh(link).revoked_by_id == alice.pk
    assert events("share_link.revoked", outcome="denied").count() == 2


@pytest.mark.django_db
def test_wrong_passphrase_is_refused_and_counted_then_the_right_one_works(bob, credential):
    link, token = share(bob, credential, passphrase="blue-harbour-42")
    browser = contact(token)
    page = browser.get("/share/").content.decode()
    assert 'name="passphrase"' in page
    refused = reveal(browser, "red-harbour-42")
    assert refused.status_code == 403
    assert "not right" in refused.content.decode()
    assert "4 attempts left" in refused.content.decode()
    assert SECRET not in refused.content.decode()
    assert (fresh(link).failed_passphrase_attempts, fresh(link).views) == (1, 0)
    assert events("share_link.revealed", outcome="denied").get().reason == "wrong_passphrase"
    assert reveal(browser).status_code == 403
    response = reveal(browser, "blue-harbour-42")
    assert response.status_code == 200
    assert SECRET in response.content.decode()


@pytest.mark.django_db
def test_five_wrong_passphrases_block_the_link_and_tell_the_creator(bob, credential):
    link, token = share(bob, credential, passphrase="blue-harbour-42")
    browser = contact(token)
    statuses = [reveal(browser, f"guess-{n:04d}").status_code for n in range(5)]
    assert statuses == [403, 403, 403, 403, 410]
    row = fresh(link)
    assert (row.failed_passphrase_attempts, row.payload, row.views) == (5, None, 0)
    right = reveal(contact(token), "blue-harbour-42")
    assert right.status_code == 410
    assert SECRET not in right.content.decode()
    assert events("share_link.revealed", reason="blocked").count() == 2
    notices = list(Notification.objects.filter(user=bob).values_list("message", flat=True))
    assert any("blocked after 5 wrong passphrases" in message for message in notices)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change", ["creator_lost_access", "creator_deactivated", "archived", "client_offboarded"]
)
def test_link_stops_working_when_its_grounds_go_away(bob, client_a, credential, change):
    link, token = share(bob, credential)
    if change == "creator_lost_access":
        bob.assignments.filter(client=client_a).update(revoked_at=timezone.now())
    elif change == "creator_deactivated":
        type(bob).objects.filter(pk=bob.pk).update(is_active=False)
    elif change == "archived":
        Credential.objects.filter(pk=credential.pk).update(status=Credential.Status.ARCHIVED)
    else:
        Client.objects.filter(pk=client_a.pk).update(status=Client.Status.OFFBOARDED)
    response = reveal(contact(token))
    assert response.status_code == 410
    assert SECRET not in response.content.decode()
    assert fresh(link).views == 0
    assert events("share_link.revealed", outcome="denied").count() == 1


@pytest.mark.django_db
def test_reveal_needs_the_csrf_token(bob, credential):
    link, token = share(bob, credential)
    browser = Browser(enforce_csrf_checks=True)
    browser.get(f"/share/{token}/")
    page = browser.get("/share/").content.decode()
    assert browser.post("/share/").status_code == 403
    assert fresh(link).views == 0
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post("/share/", {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 200
    assert SECRET in response.content.decode()


@pytest.mark.django_db
def test_a_failing_audit_write_shows_nothing_and_consumes_nothing(bob, credential):
    link, token = share(bob, credential)
    browser = contact(token)
    break_audit_inserts()
    response = reveal(browser)
    assert response.status_code == 503
    assert SECRET not in response.content.decode()
    row = fresh(link)
    assert (row.views, row.payload is not None) == (0, True)


@pytest.mark.django_db
def test_public_pages_are_uncached_unindexed_refererless_and_stand_alone(bob, client_a, credential):
    _, token = share(bob, credential)
    browser = Browser()
    responses = [browser.get(f"/share/{token}/"), browser.get("/share/"), reveal(browser)]
    responses.append(browser.get("/share/"))
    assert [r.status_code for r in responses] == [302, 200, 200, 410]
    # Only the page with the Reveal form (no token in its address) names its own origin,
    # so that the browser's POST carries an Origin the CSRF check accepts.
    assert [r["Referrer-Policy"] for r in responses] == [
        "no-referrer",
        "same-origin",
        "no-referrer",
        "no-referrer",
    ]
    for response in responses:
        assert "no-store" in response["Cache-Control"]
        assert response["Referrer-Policy"] in {"no-referrer", "same-origin"}
        assert "noindex" in response["X-Robots-Tag"]
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert token not in response.get("Location", "")
    for response in responses[1:]:
        body = response.content.decode()
        assert "topbar" not in body
        assert "Sign out" not in body
        assert client_a.name not in body
        assert "bob@msp.example" not in body
        assert "<script>" not in body
        assert "style=" not in body


@pytest.mark.django_db
def test_the_token_never_reaches_the_logs_the_session_or_the_database(
    bob, client_a, credential, caplog
):
    caplog.set_level(logging.DEBUG)
    _, token = share(bob, credential)
    browser = contact(token)
    browser.get("/share/")
    reveal(browser)
    again = contact(token)
    reveal(again)
    config = build_logging_config("DEBUG", json_output=True)["formatters"]["structured"]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=config["foreign_pre_chain"], processors=config["processors"]
    )
    assert any(token in str(record.msg) for record in caplog.records), "the path was logged"
    rendered = "\n".join(formatter.format(record) for record in caplog.records)
    assert "/share/[redacted]" in rendered
    assert token not in rendered
    assert SECRET not in rendered
    sessions = [session.get_decoded() for session in Session.objects.all()]
    sessions += [session.session_data for session in Session.objects.all()]
    assert token not in str(sessions)
    dump = "|".join(str(row) for row in ShareLink.objects.values_list())
    dump += "|".join(str(row) for row in AuditEvent.objects.values_list())
    dump += "|".join(str(row) for row in Notification.objects.values_list())
    assert token not in dump
    assert SECRET not in dump


# --- Staff side ----------------------------------------------------------------------------------


def panel_url(credential, suffix=""):
    return f"/clients/{credential.client.slug}/credentials/{credential.pk}/share-links/{suffix}"


@pytest.mark.django_db
def test_the_credential_page_loads_the_share_panel(client, bob, credential):
    sign_in(client, bob)
    page = client.get(f"/clients/{credential.client.slug}/credentials/{credential.pk}/")
    assert f'hx-get="{panel_url(credential)}"' in page.content.decode()
    panel = client.get(panel_url(credential))
    assert panel.status_code == 200
    body = panel.content.decode()
    assert "Share with a client contact" in body
    assert "Create share link" in body
    assert "no-store" in panel["Cache-Control"]


@pytest.mark.django_db
def test_panel_creates_a_link_shows_it_once_and_lists_it(client, bob, credential):
    sign_in(client, bob)
    response = client.post(
        panel_url(credential, "new/"),
        {"recipient": "Pat at Contoso", "expires_in_hours": "48", "max_views": "2"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    found = re.search(r"http://testserver/share/([A-Za-z0-9_-]{43})/", body)
    assert found
    token = found.group(1)
    link = ShareLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (link.max_views, link.recipient) == (2, "Pat at Contoso")
    assert events("share_link.created").count() == 1
    later = client.get(panel_url(credential)).content.decode()
    assert token not in later
    assert "Pat at Contoso" in later
    assert "Bob Tech" in later
    assert "0 of 2" in later
    assert "Active" in later
    assert "Revoke" in later


@pytest.mark.django_db
def test_panel_keeps_what_was_typed_when_the_input_is_wrong(client, bob, credential):
    sign_in(client, bob)
    response = client.post(
        panel_url(credential, "new/"),
        {"recipient": "Pat at Contoso", "expires_in_hours": "500", "max_views": "1"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'value="Pat at Contoso"' in body
    assert "less than or equal to 168" in body
    assert not ShareLink.objects.exists()


@pytest.mark.django_db
def test_panel_statuses_and_revoke(client, bob, credential):
    _used, used_token = share(bob, credential, recipient="Used Ursula")
    reveal(contact(used_token))
    active, _ = share(bob, credential, recipient="Active Ann")
    expired, _ = share(bob, credential, recipient="Expired Eve")
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    sign_in(client, bob)
    response = client.post(panel_url(credential, f"{active.pk}/revoke/"))
    assert response.status_code == 200
    body = response.content.decode()
    assert fresh(active).revoked_at is not None
    for label in ("Used", "Revoked", "Expired"):
        assert f">{label}</span>" in body
    assert "Revoke<" not in body


@pytest.mark.django_db
def test_panel_queries_do_not_grow_with_the_number_of_links(client, bob, credential):
    sign_in(client, bob)
    share(bob, credential)
    with CaptureQueriesContext(connection) as one:
        assert client.get(panel_url(credential)).status_code == 200
    for _ in range(5):
        share(bob, credential)
    with CaptureQueriesContext(connection) as six:
        assert client.get(panel_url(credential)).status_code == 200
    assert len(six) == len(one)


@pytest.mark.django_db
def test_panel_of_a_high_privilege_credential_explains_it_cannot_be_shared(client, alice, client_a):
    admin = make_credential(client=client_a, credential_type=CredentialType.DOMAIN_ADMIN)
    sign_in(client, alice)
    body = client.get(panel_url(admin)).content.decode()
    assert "cannot be sent through a share link" in body
    assert "Create share link" not in body
    response = client.post(
        panel_url(admin, "new/"), {"recipient": "Pat", "expires_in_hours": "1", "max_views": "1"}
    )
    assert response.status_code == 403
    assert not ShareLink.objects.exists()


@pytest.mark.django_db
def test_another_clients_technician_gets_not_found_everywhere(client, bob, charlie, credential):
    link, _ = share(bob, credential)
    sign_in(client, charlie)
    assert client.get(panel_url(credential)).status_code == 404
    created = client.post(
        panel_url(credential, "new/"),
        {"recipient": "Mallory", "expires_in_hours": "1", "max_views": "1"},
    )
    assert created.status_code == 404
    assert client.post(panel_url(credential, f"{link.pk}/revoke/")).status_code == 404
    assert ShareLink.objects.count() == 1
    assert fresh(link).revoked_at is None


# --- Purge -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_purge_wipes_expired_payloads_once_with_one_event_each(bob, client_a, credential):
    expired, _ = share(bob, credential, expires_in_hours=1)
    active, _ = share(bob, credential, expires_in_hours=48)
    _used, used_token = share(bob, credential, expires_in_hours=1)
    reveal(contact(used_token))
    later = timezone.now() + timedelta(hours=2)
    with time_machine.travel(later):
        assert services.share_links_purge(actor=None) == 1
        assert services.share_links_purge(actor=None) == 0
        assert tasks.share_links_purge() == 0
    row = fresh(expired)
    assert row.payload is None
    assert row.purged_at is not None
    assert fresh(active).payload is not None
    event = events("share_link.expired").get()
    assert (event.client_id, event.actor_user_id, event.outcome) == (client_a.pk, None, "success")
    assert event.details["share_link"] == str(expired.pk)


@pytest.mark.django_db
def test_purge_task_runs_the_service(bob, credential):
    link, _ = share(bob, credential, expires_in_hours=1)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert tasks.share_links_purge() == 1
    assert fresh(link).payload is None
    assert events("share_link.expired").count() == 1
