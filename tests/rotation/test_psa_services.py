"""PSA services against the stand-in PSA: connection, queued calls, retries and callbacks.

Covers psa.connection_saved, psa.ticket_opened, psa.ticket_updated, psa.ticket_closed,
psa.call_failed and psa.ticket_closed_by_psa (exactly one event each per operation).
"""

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Notification
from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest
from rotation.models import PsaCall, PsaConnection, RotationTask
from rotation.psa.halopsa import halo_token_cache_clear
from rotation.psa.webhook import webhook_signature
from rotation.services import psa as psa_services
from tests.rotation import psa_server as ps
from tests.rotation.test_psa_adapters import KINDS, connection_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    halo_token_cache_clear()
    server = ps.PsaServer().start()
    yield server
    server.stop()
    halo_token_cache_clear()


def connect(admin, server, kind) -> psa_services.PsaConnectionSaved:
    config = connection_config(server, kind)
    return psa_services.psa_connection_save(
        actor=admin,
        kind=kind,
        name=f"Our {kind}",
        base_url=config["base_url"],
        settings={name: str(value) for name, value in config["settings"].items()},
        secret_fields=config["secrets"],
    )


@pytest.fixture
def task(high_credential, client_a):
    return RotationTask.objects.create(
        client=client_a, credential=high_credential, due_at=timezone.now() + timedelta(days=3)
    )


def events(action, outcome="success"):
    return AuditEvent.objects.filter(action=action, outcome=outcome)


def enqueue(task, operation, note=""):
    # The task services call this inside their own transaction.
    from django.db import transaction

    with transaction.atomic():
        return psa_services.psa_call_enqueue(task=task, operation=operation, note=note)


# --- The connection -------------------------------------------------------------------------


def test_admin_saves_a_connection_sealed_and_audited_once(admin_user, server):
    saved = connect(admin_user, server, "connectwise")
    connection = PsaConnection.objects.get()
    assert connection.kind == "connectwise"
    assert connection.settings["board_id"] == 7
    assert len(saved.callback_token) >= 40
    assert (
        connection.callback_token_hash == hashlib.sha256(saved.callback_token.encode()).hexdigest()
    )
    sealed = bytes(connection.sealed_secret)
    for secret in ps.ALL_SECRETS:
        assert secret.encode() not in sealed
    event = events("psa.connection_saved").get()
    assert event.actor_user_id == admin_user.pk
    assert "private_key" in event.details["changed_fields"]
    assert ps.CW_PRIVATE_KEY not in json.dumps(event.details)


def test_saving_again_keeps_blank_secrets_and_shows_no_new_token(admin_user, server, task):
    connect(admin_user, server, "connectwise")
    again = psa_services.psa_connection_save(
        actor=admin_user,
        kind="connectwise",
        name="Renamed",
        base_url=server.url,
        settings={
            k: str(v) for k, v in connection_config(server, "connectwise")["settings"].items()
        },
        secret_fields={"public_key": "", "private_key": ""},
    )
    assert again.callback_token == ""
    assert PsaConnection.objects.get().name == "Renamed"
    enqueue(task, "open")
    assert psa_services.psa_calls_send() == 1  # the kept keys still work
    assert events("psa.connection_saved").count() == 2


def test_manager_cannot_configure_the_psa_and_is_audited(alice, server):
    with pytest.raises(AccessDenied, match="Only administrators"):
        connect(alice, server, "webhook")
    assert not PsaConnection.objects.exists()
    assert events("psa.connection_saved", "denied").get().actor_user_id == alice.pk


def test_missing_secret_and_plain_http_are_refused(admin_user):
    with pytest.raises(InvalidRequest, match="Shared signing secret is required"):
        psa_services.psa_connection_save(
            actor=admin_user,
            kind="webhook",
            name="Hook",
            base_url="https://hooks.example/psa",
            settings={},
            secret_fields={},
        )
    with pytest.raises(InvalidRequest, match="https"):
        psa_services.psa_connection_save(
            actor=admin_user,
            kind="webhook",
            name="Hook",
            base_url="http://hooks.example/psa",
            settings={},
            secret_fields={"signing_secret": "x"},
        )


# --- Queueing and sending -------------------------------------------------------------------


def test_enqueue_without_a_connection_does_nothing(task):
    assert enqueue(task, "open") is None
    assert not PsaCall.objects.exists()


def test_enqueue_uses_stable_idempotency_keys(admin_user, server, task):
    connect(admin_user, server, "webhook")
    opened = enqueue(task, "open")
    assert opened.idempotency_key == f"keyhold-task-{task.id}"
    assert enqueue(task, "open").pk == opened.pk
    assert enqueue(task, "update", "a").idempotency_key == f"{task.id}:update:1"
    assert enqueue(task, "update", "b").idempotency_key == f"{task.id}:update:2"
    assert enqueue(task, "close").idempotency_key == f"{task.id}:close:1"


@pytest.mark.parametrize("kind", KINDS)
def test_ticket_is_opened_noted_and_closed(admin_user, server, task, kind):
    connect(admin_user, server, kind)
    enqueue(task, "open")
    enqueue(task, "update", "A staff change joined this task.")
    enqueue(task, "close", "Rotated: a new version was saved.")
    assert psa_services.psa_calls_send() == 3
    tickets = server.tickets_of(kind)
    assert len(tickets) == 1
    ticket = tickets[0]
    assert "Rotate DC01 domain admin (Contoso Dental)" in ticket.summary
    assert "A staff change joined this task." in ticket.notes
    assert "Rotated: a new version was saved." in ticket.notes
    task.refresh_from_db()
    assert task.psa_ticket_id == str(ticket.id)
    assert task.psa_last_error == ""
    for action in ("psa.ticket_opened", "psa.ticket_updated", "psa.ticket_closed"):
        event = events(action).get()
        assert event.client_id == task.client_id
        assert event.details["ticket_id"] == str(ticket.id)
    assert not PsaCall.objects.filter(done_at__isnull=True).exists()
    assert psa_services.psa_calls_send() == 0
    assert server.errors == []


def test_the_ticket_goes_to_the_clients_own_psa_company(admin_user, server, task, client_a):
    client_a.psa_company_id = "318"
    client_a.save(update_fields=["psa_company_id"])
    connect(admin_user, server, "connectwise")
    enqueue(task, "open")
    assert psa_services.psa_calls_send() == 1
    opened = next(call for call in server.calls if call["method"] == "POST")
    assert json.loads(opened["body"])["company"] == {"id": 318}


@pytest.mark.parametrize("kind", KINDS)
def test_retry_after_a_lost_response_makes_no_duplicate_ticket(admin_user, server, task, kind):
    connect(admin_user, server, kind)
    enqueue(task, "open")
    server.lose_next_create()
    assert psa_services.psa_calls_send() == 0
    assert len(server.tickets_of(kind)) == 1  # created, but the answer was lost
    call = PsaCall.objects.get()
    assert call.attempts == 1
    assert events("psa.call_failed", "error").count() == 1
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        assert psa_services.psa_calls_send() == 1
    assert len(server.tickets_of(kind)) == 1
    task.refresh_from_db()
    assert task.psa_ticket_id == str(server.tickets_of(kind)[0].id)
    assert events("psa.ticket_opened").count() == 1
    assert server.errors == []


def test_outage_backs_off_leaves_the_task_alone_and_tells_admins_once(
    admin_user, server, task, caplog
):
    connect(admin_user, server, "connectwise")
    enqueue(task, "open")
    before = RotationTask.objects.values("status", "due_at", "owner_id").get(pk=task.pk)
    server.fail_next(1000)
    now = timezone.now()
    delays = []
    caplog.set_level(logging.DEBUG)
    for _ in range(7):
        with time_machine.travel(now, tick=False):
            assert psa_services.psa_calls_send() == 0
            call = PsaCall.objects.get()
            delays.append(call.next_attempt_at - now)
            now = call.next_attempt_at
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60)]
    assert call.attempts == 7
    assert "503" in call.last_error
    task.refresh_from_db()
    assert "503" in task.psa_last_error
    assert RotationTask.objects.values("status", "due_at", "owner_id").get(pk=task.pk) == before
    notices = Notification.objects.filter(
        user=admin_user, message__contains="PSA calls are failing"
    )
    assert notices.count() == 1
    assert events("psa.call_failed", "error").count() == 7
    server.fail_next(0)
    with time_machine.travel(now, tick=False):
        assert psa_services.psa_calls_send() == 1
    task.refresh_from_db()
    assert task.psa_last_error == ""
    assert task.psa_ticket_id
    for secret in ps.ALL_SECRETS:
        assert secret not in caplog.text


def test_update_waits_until_the_ticket_is_open(admin_user, server, task):
    connect(admin_user, server, "connectwise")
    enqueue(task, "open")
    enqueue(task, "update", "later note")
    server.fail_next(1)
    assert psa_services.psa_calls_send() == 0
    assert not any(call["path"].endswith("/notes") for call in server.calls)
    update = PsaCall.objects.get(operation="update")
    assert update.attempts == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        assert psa_services.psa_calls_send() == 2
    assert server.tickets_of("connectwise")[0].notes == ["later note"]


def test_a_tampered_sealed_secret_fails_the_call_readably(admin_user, server, task):
    connect(admin_user, server, "webhook")
    PsaConnection.objects.update(sealed_secret=b"garbage")
    enqueue(task, "open")
    assert psa_services.psa_calls_send() == 0
    assert "could not open the PSA connection's stored keys" in PsaCall.objects.get().last_error
    assert server.calls == []


# --- Callbacks ------------------------------------------------------------------------------


def _callback_path(saved, token=None):
    return f"/integrations/psa/{saved.connection.pk}/callback/{token or saved.callback_token}/"


def _opened(admin_user, server, task, kind):
    saved = connect(admin_user, server, kind)
    enqueue(task, "open")
    assert psa_services.psa_calls_send() == 1
    task.refresh_from_db()
    return saved


def _signed_request(kind, task, server, *, good=True):
    """A callback body saying the task's ticket was closed, with the vendor's proof."""
    ticket_id = task.psa_ticket_id
    if kind == "webhook":
        raw = json.dumps({"event": "ticket.closed", "ticket_id": ticket_id}).encode()
        stamp = str(int(time.time()))
        secret = ps.WEBHOOK_SECRET if good else "not-the-secret"
        signature = webhook_signature(secret=secret, timestamp=stamp, raw_body=raw)
        return raw, {"HTTP_X_KEYHOLD_TIMESTAMP": stamp, "HTTP_X_KEYHOLD_SIGNATURE": signature}
    if kind == "connectwise":
        entity = json.dumps({"id": int(ticket_id), "closedFlag": True})
        raw = json.dumps(
            {"Action": "updated", "Type": "Ticket", "ID": int(ticket_id), "Entity": entity}
        ).encode()
        key = hashlib.sha256((ps.CW_SIGNING_KEY if good else "wrong").encode()).digest()
        signature = base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest()).decode()
        return raw, {"HTTP_X_CONTENT_SIGNATURE": signature}
    if kind == "autotask":
        raw = json.dumps(
            {
                "Action": "Update",
                "Guid": "g-1",
                "EntityType": "Ticket",
                "Id": int(ticket_id),
                "Fields": {"Status": 5},
            }
        ).encode()
        key = (ps.AT_WEBHOOK_KEY if good else "wrong").encode()
        digest = base64.b64encode(hmac.new(key, raw, hashlib.sha1).digest()).decode()
        return raw, {"HTTP_X_HOOK_SIGNATURE": "sha1=" + digest}
    server.close_ticket(int(ticket_id), 9)
    return json.dumps({"ticket": {"id": int(ticket_id), "status_id": 9}}).encode(), {}


@pytest.mark.parametrize("kind", KINDS)
def test_callback_closing_the_ticket_is_shown_on_the_task(client, admin_user, server, task, kind):
    saved = _opened(admin_user, server, task, kind)
    raw, headers = _signed_request(kind, task, server)
    response = client.post(
        _callback_path(saved), data=raw, content_type="application/json", **headers
    )
    assert response.status_code == 204
    task.refresh_from_db()
    assert task.psa_ticket_closed_at is not None
    event = events("psa.ticket_closed_by_psa").get()
    assert event.client_id == task.client_id
    assert event.target_id == str(task.pk)
    # A repeated delivery changes nothing and records nothing more.
    client.post(_callback_path(saved), data=raw, content_type="application/json", **headers)
    assert events("psa.ticket_closed_by_psa").count() == 1


@pytest.mark.parametrize("kind", ["webhook", "connectwise", "autotask"])
def test_callback_with_a_wrong_signature_is_refused_and_audited(
    client, admin_user, server, task, kind
):
    saved = _opened(admin_user, server, task, kind)
    raw, headers = _signed_request(kind, task, server, good=False)
    response = client.post(
        _callback_path(saved), data=raw, content_type="application/json", **headers
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.psa_ticket_closed_at is None
    denied = events("psa.ticket_closed_by_psa", "denied").get()
    assert "signature" in denied.reason
    assert events("psa.ticket_closed_by_psa").count() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_callback_with_a_wrong_token_is_refused_and_audited(client, admin_user, server, task, kind):
    saved = _opened(admin_user, server, task, kind)
    raw, headers = _signed_request(kind, task, server)
    path = _callback_path(saved, token="x" * 43)
    response = client.post(path, data=raw, content_type="application/json", **headers)
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.psa_ticket_closed_at is None
    assert events("psa.ticket_closed_by_psa", "denied").count() == 1


def test_halopsa_callback_for_a_ticket_still_open_changes_nothing(client, admin_user, server, task):
    saved = _opened(admin_user, server, task, "halopsa")
    raw = json.dumps({"id": int(task.psa_ticket_id), "status_id": 9}).encode()
    response = client.post(_callback_path(saved), data=raw, content_type="application/json")
    assert response.status_code == 204
    task.refresh_from_db()
    assert task.psa_ticket_closed_at is None
    assert not events("psa.ticket_closed_by_psa").exists()


def test_callback_takes_post_only(client, admin_user, server, task):
    saved = _opened(admin_user, server, task, "webhook")
    assert client.get(_callback_path(saved)).status_code == 405


def test_no_secret_reaches_calls_or_events(admin_user, server, task):
    connect(admin_user, server, "autotask")
    enqueue(task, "open")
    server.fail_next(2)
    psa_services.psa_calls_send()
    stored = json.dumps(
        [
            list(PsaCall.objects.values_list("note", "last_error", "idempotency_key")),
            list(AuditEvent.objects.values_list("details", "reason", "target_label")),
            list(PsaConnection.objects.values_list("settings", "name", "base_url")),
        ],
        default=str,
    )
    for secret in ps.ALL_SECRETS:
        assert secret not in stored
