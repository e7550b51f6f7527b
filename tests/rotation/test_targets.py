"""Automated rotation targets: the service rules, the connection test against a private
PostgreSQL server, the automated run when a task opens, and the target page.

Actions covered here, with exactly one event per operation: rotation.target_saved,
rotation.target_checked (ok and error outcomes), rotation.target_removed.
"""

import subprocess
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from rotation.connectors import ConnectorError
from rotation.connectors.ssh import host_key_fingerprint
from rotation.models import RotationAttempt, RotationTarget, RotationTask
from rotation.services.targets import (
    rotation_automated_enqueue,
    rotation_target_check,
    rotation_target_host_key_fetch,
    rotation_target_remove,
    rotation_target_save,
)
from rotation.services.tasks import rotation_task_request
from tests.conftest import sign_in
from tests.rotation.automation_support import free_port
from tests.rotation.test_automation import (
    ADMIN,
    ADMIN_SECRET,
    ROLE,
    ROLE_OLD,
    PrivatePostgres,
    _bindir,
    logs_in,
)
from tests.rotation.test_connector_ssh import SSHD, PrivateSshd
from tests.vault.test_credentials import make_credential, opened
from vault.services import credential_update

SAVED = "rotation.target_saved"
CHECKED = "rotation.target_checked"
REMOVED = "rotation.target_removed"
AUTOMATED = "rotation.automated_attempted"


@pytest.fixture(scope="module")
def server():
    if _bindir() is None:
        pytest.fail(
            "initdb and pg_ctl (PostgreSQL server) are missing; scripts/test.sh installs them."
        )
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg(server):
    server.reset_role()
    return server


@pytest.fixture
def credential(client_a, alice):
    return make_credential(
        client=client_a,
        actor=alice,
        name="App DB owner",
        credential_type="service_account",
        username=ROLE,
        secret=ROLE_OLD,
    )


@pytest.fixture
def privileged(client_a, alice):
    return make_credential(
        client=client_a,
        actor=alice,
        name="DB admin",
        credential_type="service_account",
        username=ADMIN,
        secret=ADMIN_SECRET,
    )


def save(actor, credential, privileged, **overrides):
    fields = {
        "connector": "postgresql",
        "host": "127.0.0.1",
        "port": None,
        "database": "postgres",
        "base_dn": "",
        "tls_mode": "",
        "host_key": "",
        "privileged_credential": privileged,
        "rotate_automatically": True,
        **overrides,
    }
    return rotation_target_save(actor=actor, credential=credential, **fields)


def events(action, outcome=None):
    found = AuditEvent.objects.filter(action=action)
    return found.filter(outcome=outcome) if outcome else found


# --- Saving -------------------------------------------------------------------------------


def test_manager_sets_up_a_target_with_the_default_port_and_one_event(
    alice, credential, privileged
):
    target = save(
        alice,
        credential,
        privileged,
        host="DB01.Contoso.Example",
        base_dn="dc=ignored",
        tls_mode="starttls",
        host_key="ssh-ed25519 AAAAignored",
    )
    target.refresh_from_db()
    assert target.client_id == credential.client_id
    assert target.host == "db01.contoso.example"
    assert target.port == 5432
    assert target.database == "postgres"
    # PostgreSQL uses only the database: the other endpoint fields are cleared.
    assert (target.base_dn, target.tls_mode, target.host_key) == ("", "", "")
    assert target.privileged_credential_id == privileged.pk
    assert target.rotate_automatically is True
    assert target.created_by == alice
    assert events(SAVED).count() == 1
    event = events(SAVED).get()
    assert event.actor_user_id == alice.pk
    assert event.details["created"] is True
    assert event.details["privileged_item_id"] == str(privileged.pk)
    assert "host" in event.details["changed_fields"]
    assert ROLE_OLD not in str(event.details)
    assert ADMIN_SECRET not in str(event.details)


def test_a_change_records_the_field_names_and_forgets_the_last_check(alice, credential, privileged):
    target = save(alice, credential, privileged)
    RotationTarget.objects.filter(pk=target.pk).update(
        last_checked_at="2026-01-01T00:00:00Z", last_check_error=""
    )
    save(alice, credential, privileged, port=6432, rotate_automatically=False)
    target.refresh_from_db()
    assert target.port == 6432
    assert target.rotate_automatically is False
    assert target.last_checked_at is None
    assert RotationTarget.objects.count() == 1
    latest = events(SAVED).order_by("-sequence").first()
    assert latest.details["created"] is False
    assert latest.details["changed_fields"] == ["port", "rotate_automatically"]
    assert events(SAVED).count() == 2


def test_only_the_rotate_automatically_switch_keeps_the_last_check(alice, credential, privileged):
    target = save(alice, credential, privileged)
    RotationTarget.objects.filter(pk=target.pk).update(last_checked_at="2026-01-01T00:00:00Z")
    save(alice, credential, privileged, rotate_automatically=False)
    target.refresh_from_db()
    assert target.last_checked_at is not None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"host": ""}, "host", "Enter the host name or IP address"),
        ({"host": "https://db01.example"}, "host", "without “https://”"),
        ({"host": "db01.example/postgres"}, "host", "a path"),
        ({"host": "admin@db01.example"}, "host", "a user name"),
        ({"host": "db01.example:5432"}, "host", "Enter the port in the Port field"),
        ({"host": "db_01.example"}, "host", "is not a host name or an IP address"),
        ({"host": "-db01.example"}, "host", "is not a host name or an IP address"),
        ({"port": 0}, "port", "The port is a number from 1 to 65535."),
        ({"port": 65536}, "port", "The port is a number from 1 to 65535."),
        ({"connector": "oracle"}, "connector", "Choose the kind of system"),
        ({"tls_mode": "ssl3"}, "tls_mode", "Choose StartTLS, TLS"),
        (
            {"connector": "active_directory", "tls_mode": "none", "base_dn": "dc=contoso"},
            "tls_mode",
            "Active Directory changes passwords only over an encrypted connection",
        ),
        ({"database": "x" * 64}, "database", "The database is at most 63 characters."),
        ({"privileged_credential": None}, "privileged_credential", "Choose the privileged"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_plain_words(
    alice, credential, privileged, overrides, field, message
):
    with pytest.raises(FieldInvalid, match=message) as refused:
        save(alice, credential, privileged, **overrides)
    assert refused.value.field == field
    assert not RotationTarget.objects.exists()
    assert not events(SAVED).exists()


def test_ip_addresses_are_accepted_and_written_plainly(alice, credential, privileged):
    assert save(alice, credential, privileged, host="[::1]").host == "::1"
    assert save(alice, credential, privileged, host="10.0.0.5").host == "10.0.0.5"


def test_the_credential_cannot_be_its_own_privileged_credential(alice, credential):
    with pytest.raises(FieldInvalid, match="cannot be its own privileged credential"):
        save(alice, credential, credential)
    assert not RotationTarget.objects.exists()


def test_a_sealed_emergency_credential_cannot_be_the_privileged_one(alice, client_a, credential):
    sealed = make_credential(
        client=client_a, actor=alice, name="Break-glass DB", username="postgres", is_emergency=True
    )
    with pytest.raises(FieldInvalid, match="sealed emergency credential"):
        save(alice, credential, sealed)


def test_an_archived_or_nameless_credential_cannot_be_the_privileged_one(
    alice, client_a, credential
):
    from vault.services import credential_archive

    archived = make_credential(client=client_a, actor=alice, name="Old admin", username="old")
    credential_archive(actor=alice, credential=archived, reason="left")
    with pytest.raises(FieldInvalid, match="is archived"):
        save(alice, credential, archived)
    nameless = make_credential(client=client_a, actor=alice, name="No user", username="")
    with pytest.raises(FieldInvalid, match="has no username"):
        save(alice, credential, nameless)


def test_a_credential_without_a_username_cannot_be_set_up(alice, client_a, privileged):
    nameless = make_credential(
        client=client_a, actor=alice, name="API key", credential_type="api_key", username=""
    )
    with pytest.raises(InvalidRequest, match="Give this credential its username first"):
        save(alice, nameless, privileged)


def test_another_clients_credential_cannot_be_the_privileged_one(admin_user, client_b, credential):
    """The administrator manages both clients, and still cannot mix them."""
    theirs = make_credential(client=client_b, actor=admin_user, name="B admin", username="b")
    with pytest.raises(FieldInvalid, match="one of Contoso Dental's credentials") as refused:
        save(admin_user, credential, theirs)
    assert refused.value.field == "privileged_credential"
    assert not RotationTarget.objects.exists()


def test_a_technician_without_manage_level_is_refused_and_audited(bob, credential, privileged):
    with pytest.raises(AccessDenied, match="this needs manage access"):
        save(bob, credential, privileged)
    assert not RotationTarget.objects.exists()
    assert events(SAVED, "denied").get().actor_user_id == bob.pk


def test_a_technician_of_another_client_gets_not_found(charlie, credential, privileged):
    with pytest.raises(NotFound):
        save(charlie, credential, privileged)
    assert not RotationTarget.objects.exists()
    assert events(SAVED, "denied").count() == 1


# --- Removing -----------------------------------------------------------------------------


def test_removing_a_target_leaves_one_event(alice, credential, privileged):
    target = save(alice, credential, privileged)
    rotation_target_remove(actor=alice, target=target)
    assert not RotationTarget.objects.exists()
    assert events(REMOVED).count() == 1
    assert events(REMOVED).get().details["rotation_target_id"] == str(target.pk)


def test_removing_is_for_managers_only(alice, bob, credential, privileged):
    target = save(alice, credential, privileged)
    with pytest.raises(AccessDenied):
        rotation_target_remove(actor=bob, target=target)
    assert RotationTarget.objects.filter(pk=target.pk).exists()
    assert events(REMOVED, "denied").count() == 1


def test_a_target_with_an_unfinished_attempt_is_kept(alice, pg, credential, privileged):
    target = save(alice, credential, privileged, port=pg.port, rotate_automatically=False)
    credential_update(actor=alice, credential=privileged, secret="Not-The-Admin-Password-1")
    task = rotation_task_request(actor=None, credential=credential, reason="manual")
    from rotation.tasks import rotation_automated_run

    rotation_automated_run(str(task.pk), None)
    assert RotationAttempt.objects.get(task=task).status == RotationAttempt.Status.FAILED
    with pytest.raises(InvalidRequest, match="unfinished"):
        rotation_target_remove(actor=alice, target=target)
    assert RotationTarget.objects.filter(pk=target.pk).exists()
    assert not events(REMOVED).exists()


def test_a_target_that_rotated_can_be_removed_and_its_attempts_stay(
    alice, pg, credential, privileged
):
    target = save(alice, credential, privileged, port=pg.port, rotate_automatically=False)
    task = rotation_task_request(actor=None, credential=credential, reason="manual")
    from rotation.tasks import rotation_automated_run

    rotation_automated_run(str(task.pk), None)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.PROMOTED
    rotation_target_remove(actor=alice, target=target)
    assert not RotationTarget.objects.filter(pk=target.pk).exists()
    attempt.refresh_from_db()
    assert attempt.target_id is None
    assert attempt.connector == "postgresql"
    assert events(REMOVED).count() == 1


# --- Testing the connection against the private server -------------------------------------


def test_check_against_the_server_stores_success_on_the_row(alice, pg, credential, privileged):
    target = save(alice, credential, privileged, port=pg.port)
    checked = rotation_target_check(actor=alice, target=target)
    target.refresh_from_db()
    assert target.last_checked_at is not None
    assert target.last_check_error == ""
    assert checked.last_check_error == ""
    assert logs_in(pg, ROLE_OLD)
    assert events(CHECKED).count() == 1
    event = events(CHECKED).get()
    assert event.outcome == "success"
    assert event.details["outcome"] == "ok"
    assert ADMIN_SECRET not in str(event.details) + event.reason


def test_check_with_a_wrong_privileged_password_stores_the_reason_and_does_not_raise(
    alice, pg, credential, privileged
):
    target = save(alice, credential, privileged, port=pg.port)
    credential_update(actor=alice, credential=privileged, secret="Not-The-Admin-Password-1")
    rotation_target_check(actor=alice, target=target)
    target.refresh_from_db()
    assert target.last_checked_at is not None
    assert "privileged password was refused" in target.last_check_error
    assert events(CHECKED).count() == 1
    event = events(CHECKED).get()
    assert event.outcome == "error"
    assert event.details["outcome"] == "error"
    assert "privileged password was refused" in event.reason
    assert "Not-The-Admin-Password-1" not in str(event.details) + event.reason
    assert logs_in(pg, ROLE_OLD)


def test_check_of_an_unreachable_target_stores_why(alice, pg, credential, privileged):
    target = save(alice, credential, privileged, port=free_port())
    rotation_target_check(actor=alice, target=target)
    target.refresh_from_db()
    assert "could not reach PostgreSQL" in target.last_check_error
    assert events(CHECKED, "error").count() == 1


def test_check_is_for_managers_only(alice, bob, pg, credential, privileged):
    target = save(alice, credential, privileged, port=pg.port)
    with pytest.raises(AccessDenied):
        rotation_target_check(actor=bob, target=target)
    target.refresh_from_db()
    assert target.last_checked_at is None
    assert events(CHECKED, "denied").count() == 1


# --- Automated run when a task opens --------------------------------------------------------


def test_a_new_task_of_an_automatic_target_is_rotated_on_the_server(
    alice, bob, pg, credential, privileged, django_capture_on_commit_callbacks
):
    save(alice, credential, privileged, port=pg.port)
    with django_capture_on_commit_callbacks(execute=True):
        task = rotation_task_request(actor=bob, credential=credential, reason="manual")
    task.refresh_from_db()
    assert task.status == RotationTask.Status.DONE
    assert task.completed_by is None
    new = opened(credential, "secret")
    assert new != ROLE_OLD
    assert logs_in(pg, new)
    assert not logs_in(pg, ROLE_OLD)
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.PROMOTED
    event = events(AUTOMATED).get()
    assert event.actor_user_id is None
    assert event.actor_label == "automated rotation"
    completed = events("rotation.task_completed").get()
    assert completed.actor_label == "automated rotation"


def test_a_task_whose_target_does_not_rotate_automatically_stays_open(
    alice, pg, credential, privileged, django_capture_on_commit_callbacks
):
    save(alice, credential, privileged, port=pg.port, rotate_automatically=False)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        task = rotation_task_request(actor=None, credential=credential, reason="manual")
    assert callbacks == []
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert not RotationAttempt.objects.exists()
    assert opened(credential, "secret") == ROLE_OLD
    assert logs_in(pg, ROLE_OLD)


def test_a_reason_joining_an_open_task_does_not_start_another_run(
    alice, pg, credential, privileged, django_capture_on_commit_callbacks
):
    target = save(alice, credential, privileged, port=pg.port, rotate_automatically=False)
    task = rotation_task_request(actor=None, credential=credential, reason="manual")
    RotationTarget.objects.filter(pk=target.pk).update(rotate_automatically=True)
    with django_capture_on_commit_callbacks(execute=True):
        joined = rotation_task_request(actor=None, credential=credential, reason="exposed")
    assert joined.pk == task.pk
    assert not RotationAttempt.objects.exists()
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN


def test_a_failed_automated_run_stays_visible_and_rotate_now_retries_it(
    alice, pat, pg, credential, privileged, django_capture_on_commit_callbacks
):
    save(alice, credential, privileged, port=pg.port)
    credential_update(actor=alice, credential=privileged, secret="Not-The-Admin-Password-1")
    with django_capture_on_commit_callbacks(execute=True):
        task = rotation_task_request(actor=None, credential=credential, reason="manual")
    attempt = RotationAttempt.objects.get(task=task)
    assert attempt.status == RotationAttempt.Status.FAILED
    assert "privileged password was refused" in attempt.error
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert logs_in(pg, ROLE_OLD)

    browser = Browser()
    sign_in(browser, pat)
    page = browser.get(f"/rotation/tasks/{task.pk}/").content.decode()
    assert "privileged password was refused" in page
    assert "Rotate now" in page

    credential_update(actor=alice, credential=privileged, secret=ADMIN_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/rotation/tasks/{task.pk}/rotate-now/")
    assert response.status_code == 302
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.DONE
    resumed = RotationAttempt.objects.get(task=task)
    assert resumed.pk == attempt.pk
    assert resumed.status == RotationAttempt.Status.PROMOTED
    assert resumed.runs == 2
    assert logs_in(pg, opened(credential, "secret"))
    assert events(AUTOMATED, "success").get().actor_user_id == pat.pk


def test_rotate_now_needs_a_target_and_the_tasks_level(
    alice, bob, client_a, credential, privileged, high_credential
):
    task = rotation_task_request(actor=None, credential=credential, reason="manual")
    with pytest.raises(InvalidRequest, match="no automated rotation target"):
        rotation_automated_enqueue(actor=alice, task=task)
    high_task = rotation_task_request(actor=None, credential=high_credential, reason="manual")
    with pytest.raises(AccessDenied, match="this needs privileged access"):
        rotation_automated_enqueue(actor=bob, task=high_task)


# --- Pages ----------------------------------------------------------------------------------


def browser_for(user):
    browser = Browser()
    sign_in(browser, user)
    return browser


def target_url(credential, suffix=""):
    return f"/clients/{credential.client.slug}/credentials/{credential.pk}/rotation-target/{suffix}"


def form_data(privileged, **overrides):
    return {
        "connector": "postgresql",
        "host": "127.0.0.1",
        "port": "",
        "database": "postgres",
        "privileged_credential": str(privileged.pk),
        "rotate_automatically": "on",
        **overrides,
    }


def test_every_target_page_is_404_for_a_technician_of_another_client(
    alice, charlie, credential, privileged
):
    target = save(alice, credential, privileged)
    browser = browser_for(charlie)
    for method, suffix in [
        ("get", ""),
        ("post", ""),
        ("post", "check/"),
        ("post", "host-key/"),
        ("post", "remove/"),
    ]:
        response = getattr(browser, method)(
            target_url(credential, suffix), form_data(privileged, host="evil.example")
        )
        assert response.status_code == 404, (method, suffix)
    target.refresh_from_db()
    assert target.host == "127.0.0.1"
    assert target.last_checked_at is None
    assert events(SAVED).count() == 1


def test_the_page_is_for_managers_of_the_client(bob, credential):
    response = browser_for(bob).get(target_url(credential))
    assert response.status_code == 403
    assert "Ask a manager" in response.content.decode()


def test_a_manager_saves_the_target_through_the_page(alice, client_a, credential, privileged):
    browser = browser_for(alice)
    page = browser.get(target_url(credential)).content.decode()
    assert "Set up the target" in page
    assert "DB admin" in page
    response = browser.post(target_url(credential), form_data(privileged))
    assert response.status_code == 302
    target = RotationTarget.objects.get(credential=credential)
    assert target.port == 5432
    page = browser.get(target_url(credential)).content.decode()
    assert "Test connection" in page
    assert "Not tested yet" in page
    assert events(SAVED).count() == 1


def test_the_privileged_choices_leave_out_the_credential_sealed_ones_and_other_clients(
    admin_user, client_a, client_b, credential, privileged
):
    make_credential(client=client_a, actor=admin_user, name="Sealed DB", is_emergency=True)
    make_credential(client=client_b, actor=admin_user, name="Fabrikam admin", username="f")
    page = browser_for(admin_user).get(target_url(credential)).content.decode()
    options = page.split('name="privileged_credential"', 1)[1].split("</select>", 1)[0]
    assert "DB admin" in options
    assert "App DB owner" not in options
    assert "Sealed DB" not in options
    assert "Fabrikam admin" not in options


def test_picking_another_clients_credential_on_the_page_is_refused(
    admin_user, client_b, credential
):
    theirs = make_credential(client=client_b, actor=admin_user, name="B admin", username="b")
    response = browser_for(admin_user).post(target_url(credential), form_data(theirs))
    assert response.status_code == 200
    assert "Choose one of this client&#x27;s credentials." in response.content.decode()
    assert not RotationTarget.objects.exists()


def test_bad_input_on_the_page_shows_the_error_under_its_field_and_keeps_what_was_typed(
    alice, credential, privileged
):
    response = browser_for(alice).post(
        target_url(credential), form_data(privileged, host="https://db01.example", port="5432")
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="field field-invalid"' in body
    assert "without “https://”" in body
    assert 'value="https://db01.example"' in body
    response = browser_for(alice).post(target_url(credential), form_data(privileged, port="abc"))
    assert "The port is a number from 1 to 65535." in response.content.decode()
    assert not RotationTarget.objects.exists()


def test_test_connection_on_the_page_shows_the_outcome(alice, pg, credential, privileged):
    save(alice, credential, privileged, port=pg.port)
    browser = browser_for(alice)
    response = browser.post(target_url(credential, "check/"), follow=True)
    body = response.content.decode()
    assert "changed nothing" in body
    assert "Connected" in body
    assert ADMIN_SECRET not in body
    assert events(CHECKED).count() == 1


def test_removing_on_the_page_returns_to_the_credential(alice, credential, privileged):
    save(alice, credential, privileged)
    response = browser_for(alice).post(target_url(credential, "remove/"), follow=True)
    assert "is no longer rotated automatically" in response.content.decode()
    assert "Set up automated rotation" in response.content.decode()
    assert not RotationTarget.objects.exists()


def test_the_credential_page_shows_the_target_and_the_link_for_managers(
    alice, bob, pg, credential, privileged
):
    detail = f"/clients/{credential.client.slug}/credentials/{credential.pk}/"
    assert "Set up automated rotation" in browser_for(alice).get(detail).content.decode()
    assert "Set up automated rotation" not in browser_for(bob).get(detail).content.decode()
    target = save(alice, credential, privileged, port=pg.port)
    rotation_target_check(actor=alice, target=target)
    body = browser_for(alice).get(detail).content.decode()
    assert f"127.0.0.1:{pg.port}" in body
    assert "Connected" in body
    assert "Edit automated rotation" in body
    assert "Edit automated rotation" not in browser_for(bob).get(detail).content.decode()


def _count(browser, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert browser.get(path).status_code == 200
    return len(queries)


def test_the_target_and_credential_pages_issue_a_constant_number_of_queries(
    alice, client_a, credential, privileged
):
    browser = browser_for(alice)
    detail = f"/clients/{client_a.slug}/credentials/{credential.pk}/"
    without_target = _count(browser, detail)
    save(alice, credential, privileged)
    one = {"target": _count(browser, target_url(credential)), "detail": _count(browser, detail)}
    assert one["detail"] == without_target
    for n in range(19):
        make_credential(client=client_a, actor=alice, name=f"Admin {n}", username=f"admin{n}")
    twenty = {"target": _count(browser, target_url(credential)), "detail": _count(browser, detail)}
    assert one == twenty


# --- Other connectors' required fields, and pinning an SSH host key (private sshd) ---------


def test_fields_a_connector_requires_must_be_filled(alice, credential, privileged):
    with pytest.raises(FieldInvalid, match="The base DN is needed for a") as refused:
        save(alice, credential, privileged, connector="ldap")
    assert refused.value.field == "base_dn"
    with pytest.raises(FieldInvalid, match="Press “Fetch host key”") as refused:
        save(alice, credential, privileged, connector="ssh")
    assert refused.value.field == "host_key"
    target = save(
        alice, credential, privileged, connector="ldap", base_dn="ou=people,dc=example,dc=test"
    )
    assert (target.port, target.database, target.tls_mode) == (389, "", "")
    assert target.base_dn == "ou=people,dc=example,dc=test"


@pytest.fixture(scope="module")
def sshd():
    if not Path(SSHD).exists():
        pytest.fail("sshd (openssh-server) is missing; scripts/test.sh installs it.")
    server = PrivateSshd()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_host_key_fetch_gives_the_servers_key_and_its_ssh_keygen_fingerprint(
    alice, sshd, credential
):
    fetched = rotation_target_host_key_fetch(
        actor=alice, credential=credential, host="127.0.0.1", port=sshd.port
    )
    assert fetched.key == sshd.host_key()
    keygen = subprocess.run(
        ["ssh-keygen", "-lf", str(sshd.root / "host_ed25519.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert fetched.fingerprint == keygen
    assert not RotationTarget.objects.exists()


def test_host_key_fetch_is_for_managers_and_says_why_it_failed(alice, bob, sshd, credential):
    with pytest.raises(AccessDenied):
        rotation_target_host_key_fetch(
            actor=bob, credential=credential, host="127.0.0.1", port=sshd.port
        )
    with pytest.raises(ConnectorError, match="nothing answered there"):
        rotation_target_host_key_fetch(
            actor=alice, credential=credential, host="127.0.0.1", port=free_port()
        )
    with pytest.raises(FieldInvalid, match="without “https://”"):
        rotation_target_host_key_fetch(
            actor=alice, credential=credential, host="ssh://127.0.0.1", port=None
        )


def test_a_manager_fetches_compares_and_pins_the_host_key_on_the_page(
    alice, sshd, credential, privileged
):
    browser = browser_for(alice)
    typed = form_data(privileged, connector="ssh", port=str(sshd.port))
    typed.pop("rotate_automatically")
    response = browser.post(target_url(credential, "host-key/"), typed)
    body = response.content.decode()
    assert response.status_code == 200
    fingerprint = host_key_fingerprint(sshd.host_key())
    assert fingerprint in body
    assert sshd.host_key() in body
    # What was typed is kept, and nothing is refused before the person saves.
    assert f'value="{sshd.port}"' in body
    assert "field-invalid" not in body
    assert not RotationTarget.objects.exists()

    typed["host_key"] = f"[127.0.0.1]:{sshd.port} {sshd.host_key()}"
    assert browser.post(target_url(credential), typed).status_code == 302
    target = RotationTarget.objects.get(credential=credential)
    assert target.connector == "ssh"
    assert target.host_key == sshd.host_key()
    assert target.database == ""
    assert target.rotate_automatically is False


def test_a_failed_host_key_fetch_is_shown_on_the_page(alice, credential, privileged):
    typed = form_data(privileged, connector="ssh", port=str(free_port()))
    body = browser_for(alice).post(target_url(credential, "host-key/"), typed).content.decode()
    assert "nothing answered there" in body
    assert 'data-testid="fetched-host-key"' not in body


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("AAAAC3NzaC1lZDI1NTE5", "Paste the server's public host key"),
        ("ssh-ed25519 not*base64", "Paste the server's public host key"),
    ],
)
def test_a_malformed_host_key_is_refused(alice, credential, privileged, line, message):
    with pytest.raises(FieldInvalid, match=message) as refused:
        save(alice, credential, privileged, connector="ssh", host_key=line)
    assert refused.value.field == "host_key"
