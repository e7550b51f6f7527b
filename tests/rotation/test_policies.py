"""Rotation policies: defaults per tier, per-client overrides, per-credential intervals, and
the client's rules for generated passwords.

Action covered here with exactly one event per operation: rotation.policy_updated.
"""

import re
from datetime import timedelta

import pytest

from audit.models import AuditEvent
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from rotation.models import RotationPolicy
from rotation.selectors.policies import effective_interval_days, rotation_policy_for
from rotation.services.policies import (
    credential_rotation_interval_set,
    rotation_next_due_fill_missing,
    rotation_next_due_recompute,
    rotation_password_generate,
    rotation_policy_update,
)
from tests.rotation.test_views import browser_for
from vault import generator
from vault.models import Credential

SAMPLES = 200


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
        "password_length": 32,
        "password_symbols": True,
        "password_exclude": "",
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
    with pytest.raises(FieldInvalid) as error:
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
    with pytest.raises(FieldInvalid, match="may be shorter, not longer"):
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


# --- Generated passwords ---------------------------------------------------------------------


def test_without_a_policy_new_passwords_are_32_characters_with_symbols(client_a):
    policy = rotation_policy_for(actor=None, client=client_a)
    assert (policy.password_length, policy.password_symbols, policy.password_exclude) == (
        32,
        True,
        "",
    )
    passwords = [rotation_password_generate(client=client_a) for _ in range(20)]
    assert {len(password) for password in passwords} == {32}
    assert all(set(password) & set(generator.SYMBOLS) for password in passwords)
    assert not RotationPolicy.objects.exists()


def test_password_rules_are_saved_and_audited_by_field_name(client_a, alice, high_credential):
    update(alice, client_a, high_privilege_days=60)
    before = AuditEvent.objects.filter(action="rotation.policy_updated").count()
    policy = update(
        alice,
        client_a,
        high_privilege_days=60,
        password_length=20,
        password_symbols=False,
        password_exclude=" x y\tz  x ",
    )
    policy.refresh_from_db()
    assert (policy.password_length, policy.password_symbols, policy.password_exclude) == (
        20,
        False,
        "xyz",  # whitespace separates, each character kept once
    )
    events = AuditEvent.objects.filter(action="rotation.policy_updated", outcome="success")
    assert events.count() == before + 1
    details = events.order_by("-pk").first().details
    assert details["changed"] == {}
    assert details["generator_changed"] == [
        "password_exclude",
        "password_length",
        "password_symbols",
    ]
    for _ in range(SAMPLES):
        password = rotation_password_generate(client=client_a)
        assert len(password) == 20
        assert not set(password) & set("xyz" + generator.SYMBOLS)


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"password_length": 15}, "password_length", "16 to 128 characters"),
        ({"password_length": 129}, "password_length", "16 to 128 characters"),
        ({"password_exclude": "23456789"}, "password_exclude", "leaves no digits"),
        (
            {"password_exclude": "ABCDEFGHJKLMNPQRSTUVWXYZ"},
            "password_exclude",
            "leaves no capital letters",
        ),
        (
            {"password_exclude": generator.SYMBOLS},
            "password_exclude",
            "leaves no symbols to choose from",
        ),
        (
            {"password_exclude": "".join(chr(c) for c in range(0x100, 0x141))},
            "password_exclude",
            "at most 64 different characters",
        ),
    ],
)
def test_password_rules_that_cannot_work_name_their_field(client_a, alice, values, field, words):
    with pytest.raises(FieldInvalid) as error:
        update(alice, client_a, **values)
    assert error.value.field == field
    assert words in error.value.message
    assert not RotationPolicy.objects.exists()
    assert not AuditEvent.objects.filter(action="rotation.policy_updated", outcome="success")


def test_excluding_every_symbol_is_fine_when_symbols_are_off(client_a, alice):
    policy = update(
        alice, client_a, password_symbols=False, password_exclude=generator.SYMBOLS + " abc"
    )
    assert policy.password_exclude == generator.SYMBOLS + "abc"
    for _ in range(SAMPLES):
        password = rotation_password_generate(client=client_a)
        assert not set(password) & set(generator.SYMBOLS + "abc")


def test_a_person_may_choose_length_and_symbols_but_not_the_excluded_characters(client_a, alice):
    update(alice, client_a, password_exclude="$%&abc")
    for _ in range(SAMPLES):
        password = rotation_password_generate(client=client_a, length=12, symbols=True)
        assert len(password) == 12
        assert not set(password) & set("$%&abc")
    assert not set(rotation_password_generate(client=client_a, symbols=False)) & set(
        generator.SYMBOLS
    )


def test_generating_with_symbols_when_the_policy_excludes_them_all_says_what_to_do(client_a, alice):
    update(alice, client_a, password_symbols=False, password_exclude=generator.SYMBOLS)
    with pytest.raises(InvalidRequest, match="excludes all the symbols; untick Include symbols"):
        rotation_password_generate(client=client_a, symbols=True)


def test_policy_page_shows_and_saves_the_password_rules(client_a, alice, bob):
    url = f"/clients/{client_a.slug}/rotation-policy/"
    browser = browser_for(alice)
    page = browser.get(url).content.decode()
    assert "Automated rotation and the Generate button use these" in page
    assert 'name="password_length" value="32"' in page
    form = {
        "high_privilege_days": "90",
        "service_days": "365",
        "standard_days": "",
        "password_length": "24",
        "password_symbols": "on",
    }
    bad = browser.post(url, {**form, "password_exclude": "0123456789"})
    assert bad.status_code == 200
    field = re.search(
        r'<div class="field field-invalid">\s*<label for="id_password_exclude">.*?</div>',
        bad.content.decode(),
        re.DOTALL,
    )
    assert field is not None
    assert "leaves no digits" in field.group(0)
    assert 'value="24"' in bad.content.decode()  # what was typed is kept
    assert not RotationPolicy.objects.exists()
    ok = browser.post(url, {**form, "password_exclude": "; ` $"})
    assert ok.status_code == 302
    policy = RotationPolicy.objects.get(client=client_a)
    assert (policy.password_length, policy.password_symbols, policy.password_exclude) == (
        24,
        True,
        ";`$",
    )
    readonly = browser_for(bob).get(url).content.decode()
    assert "24 characters" in readonly
    assert "with symbols" in readonly
    assert '<code data-testid="password-exclude">;`$</code>' in readonly
