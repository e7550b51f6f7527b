"""Rotation pages: wiring, status codes, tenant isolation (another client's technician gets
404 on every page), no secret on any page, the overdue view's constant query count."""

from datetime import timedelta

import pytest
from django.test import Client as Browser
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from rotation.models import RotationPolicy, RotationTask
from rotation.services.tasks import rotation_task_request
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.conftest import sign_in
from tests.factories import ClientFactory, UserFactory
from tests.vault.test_credentials import SECRET, make_credential, opened
from vault.models import Credential


def browser_for(user):
    browser = Browser()
    sign_in(browser, user)
    return browser


@pytest.fixture
def task(standard_credential):
    return rotation_task_request(actor=None, credential=standard_credential, reason="manual")


def pages(task, client):
    credential = task.credential
    return [
        ("get", f"/rotation/tasks/{task.pk}/", {}),
        ("post", f"/rotation/tasks/{task.pk}/complete/", {"new_secret": "Charlie-Try-1"}),
        ("post", f"/rotation/tasks/{task.pk}/cancel/", {"reason": "no"}),
        ("get", f"/clients/{client.slug}/credentials/{credential.pk}/rotate/", {}),
        (
            "post",
            f"/clients/{client.slug}/credentials/{credential.pk}/rotate/",
            {"reason": "manual"},
        ),
        ("get", f"/clients/{client.slug}/rotation-policy/", {}),
        ("post", f"/clients/{client.slug}/rotation-policy/", {"high_privilege_days": "30"}),
    ]


def test_every_rotation_page_is_404_for_a_technician_of_another_client(client_a, charlie, task):
    browser = browser_for(charlie)
    for method, url, data in pages(task, client_a):
        response = getattr(browser, method)(url, data)
        assert response.status_code == 404, (method, url)
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.OPEN
    assert not RotationPolicy.objects.exists()
    assert opened(task.credential, "secret") == SECRET
    mine = browser.get("/rotation/tasks/")
    assert mine.status_code == 200
    assert task.credential.name not in mine.content.decode()


def test_my_tasks_lists_the_owners_open_tasks(client_a, bob, task):
    RotationTask.objects.filter(pk=task.pk).update(owner=bob)
    response = browser_for(bob).get("/rotation/tasks/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Front desk" in body
    assert f"/rotation/tasks/{task.pk}/" in body
    assert SECRET not in body


def test_task_page_shows_the_credential_reasons_and_forms_but_no_secret(alice, task):
    response = browser_for(alice).get(f"/rotation/tasks/{task.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Manual request" in body
    assert "Save new secret and complete" in body
    assert "Cancel this rotation" in body
    assert SECRET not in body


def test_technician_sees_no_cancel_form(bob, task):
    body = browser_for(bob).get(f"/rotation/tasks/{task.pk}/").content.decode()
    assert "Save new secret and complete" in body
    assert "Cancel this rotation" not in body


def test_completing_through_the_page_records_one_event(bob, task):
    response = browser_for(bob).post(
        f"/rotation/tasks/{task.pk}/complete/", {"new_secret": "Typed-New-Secret-5"}
    )
    assert response.status_code == 302
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.DONE
    assert opened(task.credential, "secret") == "Typed-New-Secret-5"
    assert AuditEvent.objects.filter(action="rotation.task_completed").count() == 1


def test_a_failed_completion_never_echoes_the_typed_secret(bob, task):
    response = browser_for(bob).post(
        f"/rotation/tasks/{task.pk}/complete/",
        {"new_secret": SECRET},  # the current one
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "same as the current one" in body
    assert SECRET not in body
    both = browser_for(bob).post(
        f"/rotation/tasks/{task.pk}/complete/",
        {"new_secret": "Typed-And-Generated-1", "generate": "on", "kind": "password"},
    )
    assert "not both" in both.content.decode()
    assert "Typed-And-Generated-1" not in both.content.decode()


def test_generate_through_the_page(bob, task):
    response = browser_for(bob).post(
        f"/rotation/tasks/{task.pk}/complete/",
        {"generate": "on", "kind": "passphrase", "length": "24", "words": "6"},
    )
    assert response.status_code == 302
    new = opened(task.credential, "secret")
    assert new.count("-") == 5
    page = browser_for(bob).get(f"/rotation/tasks/{task.pk}/").content.decode()
    assert new not in page


def test_high_privilege_completion_by_a_use_level_technician_is_refused(bob, high_credential):
    task = rotation_task_request(actor=None, credential=high_credential, reason="manual")
    browser = browser_for(bob)
    page = browser.get(f"/rotation/tasks/{task.pk}/").content.decode()
    assert "Save new secret and complete" not in page
    assert "needs privileged access" in page
    response = browser.post(f"/rotation/tasks/{task.pk}/complete/", {"new_secret": "X-Secret-99"})
    assert response.status_code == 403
    assert opened(high_credential, "secret") == SECRET


def test_cancel_through_the_page_by_a_manager(alice, bob, task):
    refused = browser_for(bob).post(f"/rotation/tasks/{task.pk}/cancel/", {"reason": "dup"})
    assert refused.status_code == 403
    response = browser_for(alice).post(
        f"/rotation/tasks/{task.pk}/cancel/", {"reason": "Duplicate of the offboarding case"}
    )
    assert response.status_code == 302
    assert RotationTask.objects.get(pk=task.pk).status == RotationTask.Status.CANCELLED
    assert (
        AuditEvent.objects.filter(action="rotation.task_cancelled", outcome="success").count() == 1
    )


def test_request_a_rotation_from_the_credential(client_a, bob, standard_credential):
    url = f"/clients/{client_a.slug}/credentials/{standard_credential.pk}/rotate/"
    browser = browser_for(bob)
    assert browser.get(url).status_code == 200
    response = browser.post(url, {"reason": "suspected_compromise", "detail": "phished"})
    task = RotationTask.objects.get(credential=standard_credential)
    assert response.status_code == 302
    assert response["Location"] == f"/rotation/tasks/{task.pk}/"
    assert AuditEvent.objects.filter(action="rotation.task_created").count() == 1


def test_policy_page_saves_and_shows_per_field_messages(client_a, alice, bob):
    url = f"/clients/{client_a.slug}/rotation-policy/"
    browser = browser_for(alice)
    assert browser.get(url).status_code == 200
    bad = browser.post(
        url, {"high_privilege_days": "400", "service_days": "365", "standard_days": ""}
    )
    assert bad.status_code == 200
    assert "The interval for high-privilege credentials is 1 to 365 days." in bad.content.decode()
    assert not RotationPolicy.objects.exists()
    ok = browser.post(
        url, {"high_privilege_days": "30", "service_days": "180", "standard_days": "90"}
    )
    assert ok.status_code == 302
    policy = RotationPolicy.objects.get(client=client_a)
    assert (policy.high_privilege_days, policy.service_days, policy.standard_days) == (30, 180, 90)
    assert AuditEvent.objects.filter(action="rotation.policy_updated").count() == 1
    readonly = browser_for(bob).get(url)
    assert readonly.status_code == 200
    assert "every 30 days" in readonly.content.decode()
    assert browser_for(bob).post(url, {"high_privilege_days": "10"}).status_code == 403


def test_policy_page_sets_a_credentials_own_interval_within_bounds(
    client_a, alice, high_credential
):
    url = f"/clients/{client_a.slug}/rotation-policy/"
    browser = browser_for(alice)
    bad = browser.post(url, {"credential": str(high_credential.pk), "days": "200"})
    assert "may be shorter, not longer" in bad.content.decode()
    ok = browser.post(url, {"credential": str(high_credential.pk), "days": "14"})
    assert ok.status_code == 302
    assert Credential.objects.get(pk=high_credential.pk).rotation_interval_days == 14
    assert "14 days" in browser.get(url).content.decode()


def _overdue_task(client, manager, name):
    credential = make_credential(client=client, actor=manager, name=name)
    return rotation_task_request(
        actor=None,
        credential=credential,
        reason="manual",
        due_at=timezone.now() - timedelta(days=2),
    )


def test_overdue_view_by_client_and_owner_with_constant_queries(
    client_a, alice, django_assert_num_queries
):
    _overdue_task(client_a, alice, "A admin 1")
    browser = browser_for(alice)
    browser.get("/rotation/overdue/")  # warm the session and permission caches
    with django_assert_num_queries(11) as one:
        response = browser.get("/rotation/overdue/")
    assert response.status_code == 200
    for n in range(2, 6):
        _overdue_task(client_a, alice, f"A admin {n}")
    client_c = ClientFactory(name="Woodgrove Bank")
    assignment_grant(actor=None, client=client_c, user=alice, level=AccessLevel.MANAGE)
    _overdue_task(client_c, alice, "C admin")
    with django_assert_num_queries(len(one.captured_queries)):
        response = browser.get("/rotation/overdue/")
    body = response.content.decode()
    assert "Woodgrove Bank" in body
    assert "C admin" in body
    assert "A admin 5" in body


def test_overdue_view_is_for_managers_and_shows_only_their_clients(
    client_a, client_b, alice, bob, charlie
):
    _overdue_task(client_a, alice, "A admin")
    other_manager = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client_b, user=other_manager, level=AccessLevel.MANAGE)
    assert browser_for(bob).get("/rotation/overdue/").status_code == 403
    body = browser_for(other_manager).get("/rotation/overdue/").content.decode()
    assert "A admin" not in body
    assert "No rotation is overdue" in body
    mine = browser_for(alice).get("/rotation/overdue/").content.decode()
    assert "A admin" in mine
    assert "Contoso Dental" in mine
