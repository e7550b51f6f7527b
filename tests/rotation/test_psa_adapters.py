"""Contract tests of each PSA adapter against the local stand-in server (no database)."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from rotation.psa import PsaError, adapter_for, ticket_marker, ticket_summary
from rotation.psa.autotask import autotask_signature
from rotation.psa.connectwise import connectwise_signature
from rotation.psa.halopsa import halo_token_cache_clear
from rotation.psa.webhook import webhook_signature
from tests.rotation import psa_server as ps

KINDS = ["webhook", "connectwise", "autotask", "halopsa"]


def connection_config(server: ps.PsaServer, kind: str) -> dict:
    """What an administrator would type for each PSA, pointing at the stand-in."""
    return {
        "webhook": {
            "base_url": f"{server.url}/webhook",
            "settings": {},
            "secrets": {"signing_secret": ps.WEBHOOK_SECRET},
        },
        "connectwise": {
            "base_url": server.url,
            "settings": {
                "company": ps.CW_COMPANY,
                "client_id": ps.CW_CLIENT_ID,
                "board_id": 7,
                "company_id": 250,
                "closed_status_id": 42,
            },
            "secrets": {
                "public_key": ps.CW_PUBLIC_KEY,
                "private_key": ps.CW_PRIVATE_KEY,
                "callback_signing_key": ps.CW_SIGNING_KEY,
            },
        },
        "autotask": {
            "base_url": f"{server.url}/atservicesrest",
            "settings": {
                "username": ps.AT_USERNAME,
                "company_id": 0,
                "queue_id": 29683354,
                "status_new": 1,
                "status_complete": 5,
                "priority": 2,
            },
            "secrets": {
                "integration_code": ps.AT_INTEGRATION_CODE,
                "secret": ps.AT_SECRET,
                "webhook_secret_key": ps.AT_WEBHOOK_KEY,
            },
        },
        "halopsa": {
            "base_url": server.url,
            "settings": {
                "client_id": ps.HALO_CLIENT_ID,
                "tickettype_id": 1,
                "halo_client_id": 12,
                "site_id": 18,
                "closed_status_id": 9,
            },
            "secrets": {"client_secret": ps.HALO_CLIENT_SECRET},
        },
    }[kind]


CLOSED_STATUS = {"webhook": "closed", "connectwise": 42, "autotask": 5, "halopsa": 9}


@pytest.fixture
def server():
    halo_token_cache_clear()
    server = ps.PsaServer().start()
    yield server
    server.stop()
    halo_token_cache_clear()


def make(server, kind):
    return adapter_for(kind=kind, **connection_config(server, kind))


KEY = "keyhold-task-0b7c3f9e-5b7d-4c55-9d8c-1234567890ab"


@pytest.mark.parametrize("kind", KINDS)
def test_open_note_close_and_find(server, kind):
    adapter = make(server, kind)
    summary = ticket_summary(key=KEY, text="Rotate DC01 domain admin (Contoso Dental)")
    ticket_id = adapter.open_ticket(key=KEY, summary=summary, description="Due 2030-01-01.")
    ticket = server.tickets[int(ticket_id)]
    assert ticket.summary == summary
    assert ticket_marker(KEY) in ticket.summary
    adapter.add_note(ticket_id=ticket_id, text="Reason added: staff change.")
    adapter.close_ticket(ticket_id=ticket_id, text="Rotated in Keyhold.")
    assert "Reason added: staff change." in ticket.notes
    assert "Rotated in Keyhold." in ticket.notes
    assert ticket.status == CLOSED_STATUS[kind]
    if kind == "webhook":
        assert adapter.find_ticket_by_key(key=KEY) is None  # the receiver de-duplicates
    else:
        assert adapter.find_ticket_by_key(key=KEY) == ticket_id
        assert adapter.find_ticket_by_key(key="keyhold-task-other") is None
    assert server.errors == []


def test_connectwise_calls_are_shaped_as_documented(server):
    adapter = make(server, "connectwise")
    ticket_id = adapter.open_ticket(
        key=KEY, summary=ticket_summary(key=KEY, text="x" * 300), description="d"
    )
    create = server.calls[0]
    assert create["method"] == "POST"
    assert create["path"] == "/v4_6_release/apis/3.0/service/tickets"
    body = json.loads(create["body"])
    assert len(body["summary"]) <= 100
    assert body["board"] == {"id": 7}
    assert body["company"] == {"id": 250}
    adapter.close_ticket(ticket_id=ticket_id, text="")
    patch = server.calls[-1]
    assert patch["method"] == "PATCH"
    assert patch["path"] == f"/v4_6_release/apis/3.0/service/tickets/{ticket_id}"
    assert json.loads(patch["body"]) == [{"op": "replace", "path": "status/id", "value": 42}]
    assert server.errors == []


def test_the_clients_own_psa_company_is_used_when_it_has_one(server):
    summary = ticket_summary(key=KEY, text="t")
    connectwise = make(server, "connectwise")
    connectwise.open_ticket(key=KEY, summary=summary, description="d", company="318")
    assert json.loads(server.calls[-1]["body"])["company"] == {"id": 318}
    connectwise.open_ticket(key=KEY, summary=summary, description="d", company="ContosoDental")
    assert json.loads(server.calls[-1]["body"])["company"] == {"identifier": "ContosoDental"}
    autotask = make(server, "autotask")
    autotask.open_ticket(key=KEY, summary=summary, description="d", company="4411")
    assert json.loads(server.calls[-1]["body"])["companyID"] == 4411
    with pytest.raises(PsaError, match="needs a numeric company id"):
        autotask.open_ticket(key=KEY, summary=summary, description="d", company="Contoso")
    assert server.errors == []


def test_autotask_looks_up_the_zone_once_then_calls_the_zone(server):
    adapter = make(server, "autotask")
    ticket_id = adapter.open_ticket(
        key=KEY, summary=ticket_summary(key=KEY, text="t"), description="d"
    )
    adapter.add_note(ticket_id=ticket_id, text="n")
    paths = [(c["method"], c["path"]) for c in server.calls]
    assert paths == [
        ("GET", "/atservicesrest/v1.0/zoneInformation"),
        ("POST", "/zone5/atservicesrest/v1.0/Tickets"),
        ("POST", f"/zone5/atservicesrest/v1.0/Tickets/{ticket_id}/Notes"),
    ]
    assert server.errors == []


def test_halopsa_token_is_cached_until_it_expires(server):
    adapter = make(server, "halopsa")
    ticket_id = adapter.open_ticket(
        key=KEY, summary=ticket_summary(key=KEY, text="t"), description="d"
    )
    make(server, "halopsa").add_note(ticket_id=ticket_id, text="n")
    assert len(server.halo_tokens) == 1
    token_calls = [c for c in server.calls if c["path"] == "/auth/token"]
    assert len(token_calls) == 1
    assert (
        json.loads(next(c for c in server.calls if c["path"] == "/api/Tickets")["body"])[0][
            "tickettype_id"
        ]
        == 1
    )
    assert server.errors == []


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_keys_fail_with_a_readable_reason_that_holds_no_secret(server, kind):
    config = connection_config(server, kind)
    config["secrets"] = {name: "wrong-" + value for name, value in config["secrets"].items()}
    adapter = adapter_for(kind=kind, **config)
    with pytest.raises(PsaError) as caught:
        adapter.open_ticket(key=KEY, summary=ticket_summary(key=KEY, text="t"), description="d")
    assert "refused" in caught.value.reason or "answered" in caught.value.reason
    for secret in [*ps.ALL_SECRETS, *config["secrets"].values()]:
        assert secret not in caught.value.reason
    assert secret not in repr(adapter)


def test_unreachable_psa_is_a_psa_error(server):
    config = connection_config(server, "connectwise")
    config["base_url"] = "http://127.0.0.1:9"
    with pytest.raises(PsaError, match="Could not reach ConnectWise Manage"):
        adapter_for(kind="connectwise", **config).find_ticket_by_key(key=KEY)


def test_summary_never_loses_its_marker():
    summary = ticket_summary(key=KEY, text="R" * 500)
    assert len(summary) == 100
    assert summary.startswith(f"[{ticket_marker(KEY)}] ")


# --- Callback verification ------------------------------------------------------------------


def test_webhook_callback_signature(server):
    adapter = make(server, "webhook")
    raw = json.dumps({"event": "ticket.closed", "ticket_id": "1001"}).encode()
    now = str(int(time.time()))
    good = {
        "X-Keyhold-Timestamp": now,
        "X-Keyhold-Signature": webhook_signature(
            secret=ps.WEBHOOK_SECRET, timestamp=now, raw_body=raw
        ),
    }
    assert adapter.callback_verify(raw_body=raw, headers=good)
    assert adapter.callback_event(raw_body=raw).closed
    assert not adapter.callback_verify(raw_body=raw + b" ", headers=good)
    old = str(int(time.time()) - 3600)
    stale = {
        "X-Keyhold-Timestamp": old,
        "X-Keyhold-Signature": webhook_signature(
            secret=ps.WEBHOOK_SECRET, timestamp=old, raw_body=raw
        ),
    }
    assert not adapter.callback_verify(raw_body=raw, headers=stale)


def test_connectwise_callback_signature_uses_the_configured_key(server):
    adapter = make(server, "connectwise")
    raw = json.dumps(
        {
            "Action": "updated",
            "Type": "Ticket",
            "ID": 1001,
            "Entity": json.dumps({"id": 1001, "closedFlag": True}),
            "Metadata": {"key_url": "https://evil.example/key"},
        }
    ).encode()
    key = hashlib.sha256(ps.CW_SIGNING_KEY.encode()).digest()
    signature = base64.b64encode(hmac.new(key, raw, hashlib.sha256).digest()).decode()
    assert signature == connectwise_signature(signing_key=ps.CW_SIGNING_KEY, raw_body=raw)
    assert adapter.callback_verify(raw_body=raw, headers={"X-Content-Signature": signature})
    assert adapter.callback_event(raw_body=raw).closed
    assert not adapter.callback_verify(raw_body=raw, headers={"x-content-signature": "AAAA"})
    assert server.calls == []  # key_url is never fetched


def test_autotask_callback_signature_is_hmac_sha1(server):
    adapter = make(server, "autotask")
    raw = json.dumps(
        {
            "Action": "Update",
            "Guid": "g",
            "EntityType": "Ticket",
            "Id": 1001,
            "Fields": {"Status": 5},
        }
    ).encode()
    digest = base64.b64encode(hmac.new(ps.AT_WEBHOOK_KEY.encode(), raw, hashlib.sha1).digest())
    assert (
        autotask_signature(secret_key=ps.AT_WEBHOOK_KEY, raw_body=raw) == "sha1=" + digest.decode()
    )
    assert adapter.callback_verify(
        raw_body=raw, headers={"X-Hook-Signature": "sha1=" + digest.decode()}
    )
    assert adapter.callback_event(raw_body=raw).closed
    assert not adapter.callback_verify(raw_body=raw, headers={"X-Hook-Signature": "sha1=bad"})


def test_halopsa_callback_is_confirmed_with_halopsa_itself(server):
    adapter = make(server, "halopsa")
    ticket_id = adapter.open_ticket(
        key=KEY, summary=ticket_summary(key=KEY, text="t"), description="d"
    )
    forged = json.dumps({"id": int(ticket_id), "status_id": 9}).encode()
    assert adapter.callback_event(raw_body=forged).closed is False  # Halo says still open
    server.close_ticket(int(ticket_id), 9)
    assert adapter.callback_event(raw_body=forged).closed is True
