"""Rotation policies: defaults per tier, per-client overrides, per-credential intervals.

Action covered here with exactly one event per operation: rotation.policy_updated.
"""

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from config.errors import AccessDenied, NotFound
from rotation.models import RotationPolicy
from rotation.selectors.policies import effective_interval_days, rotation_policy_for
from rotation.services.policies import (
    PolicyFieldError,
    credential_rotation_interval_set,
    rotation_next_due_fill_missing,
    rotation_next_due_recompute,
    rotation_policy_update,
)
from vault.models import Credential


def due(credential):
    return Credential.objects.get(pk=credential.pk).next_rotation_due


def base(credential):
    row = Credential.objects.get(pk=credential.pk)
    return row.last_rotated_at or row.created_at


def update(actor, client, **values):
    fields = {
        "high_privilege_days": 90,
        "service_days": 365,
        "standard_days": None,
        "rotate_high_privilege_on_staff_change": True,
        **values,
    }
    return rotation_policy_update(actor=actor, client=client, **fields)


def test_defaults_high_90_service_365_standard_none(
    client_a, high_credential, service_credential, standard_credential
):
    policy = rotation_policy_for(actor=None, client=client_a)
    assert policy._state.adding
    assert (policy.high_privilege_days, policy.service_days, policy.standard_days) == (
        90,
        365,
        None,
    )
    rotation_next_due_recompute(actor=None, client=client_a)
    assert due(high_credential) == base(high_credential) + timedelta(days=90)
    assert due(service_credential) == base(service_credential) + timedelta(days=365)
    assert due(standard_credential) is None


def test_policy_update_reschedules_the_clients_credentials_and_records_once(
    client_a, alice, high_credential, standard_credential, credential_b
):
    rotation_next_due_recompute(actor=None, client=client_a)
    policy = update(alice, client_a, high_privilege_days=30, standard_days=180)
    assert RotationPolicy.objects.get(client=client_a) == policy
    assert policy.updated_by == alice
    assert due(high_credential) == base(high_credential) + timedelta(days=30)
    assert due(standard_credential) == base(standard_credential) + timedelta(days=180)
    assert due(credential_b) is None  # another client's credential is untouched
    events = AuditEvent.objects.filter(action="rotation.policy_updated", outcome="success")
    assert events.count() == 1
    changed = events.get().details["changed"]
    assert changed["high_privilege_days"] == {"from": 90, "to": 30}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"high_privilege_days": 0}, "high_privilege_days"),
        ({"high_privilege_days": 400}, "high_privilege_days"),
        ({"service_days": 5000}, "service_days"),
        ({"standard_days": 0}, "standard_days"),
        ({"standard_days": 1000}, "standard_days"),
    ],
)
def test_out_of_bounds_values_name_their_field(client_a, alice, values, field):
    with pytest.raises(PolicyFieldError) as error:
        update(alice, client_a, **values)
    assert error.value.field == field
    assert "days" in error.value.message
    assert not RotationPolicy.objects.exists()


def test_only_managers_of_the_client_change_its_policy(client_a, bob, charlie):
    with pytest.raises(AccessDenied):
        update(bob, client_a, high_privilege_days=30)
    with pytest.raises(NotFound):
        update(charlie, client_a, high_privilege_days=30)
    assert not RotationPolicy.objects.exists()
    denied = AuditEvent.objects.filter(action="rotation.policy_updated", outcome="denied")
    assert denied.count() == 2


def test_a_credentials_own_interval_may_be_shorter_than_the_clients_not_longer(
    client_a, alice, high_credential
):
    with pytest.raises(PolicyFieldError, match="may be shorter, not longer"):
        credential_rotation_interval_set(actor=alice, credential=high_credential, days=120)
    assert Credential.objects.get(pk=high_credential.pk).rotation_interval_days is None
    credential_rotation_interval_set(actor=alice, credential=high_credential, days=30)
    assert due(high_credential) == base(high_credential) + timedelta(days=30)


def test_an_own_interval_longer_than_a_later_policy_is_capped(client_a, alice, high_credential):
    credential_rotation_interval_set(actor=alice, credential=high_credential, days=60)
    update(alice, client_a, high_privilege_days=20)
    assert due(high_credential) == base(high_credential) + timedelta(days=20)
    policy = rotation_policy_for(actor=None, client=client_a)
    assert effective_interval_days(policy=policy, tier="high", own_days=60) == 20
    assert effective_interval_days(policy=policy, tier="standard", own_days=60) == 60
    assert effective_interval_days(policy=policy, tier="standard", own_days=None) is None


def test_fill_missing_sets_due_dates_where_a_schedule_applies_only(
    client_a, high_credential, standard_credential
):
    assert due(high_credential) is None
    rotation_next_due_fill_missing(actor=None)
    assert due(high_credential) == base(high_credential) + timedelta(days=90)
    assert due(standard_credential) is None
