"""Credential services and selectors: tiers, tenancy, sealed fields, versions, audit."""

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditEvent
from config.errors import AccessDenied, InvalidRequest, NotFound
from tenants.models import AccessLevel
from tenants.services import assignment_grant
from tests.factories import SystemFactory, UserFactory
from tests.security.test_no_plain_mfa_secrets import database_dump
from vault import selectors, services
from vault.envelope import SecretUnavailable, data_key_cache_clear, field_decrypt
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    CREDENTIAL_VERSION_RECORD_TYPE,
    ClientDataKey,
    Credential,
    CredentialSecretVersion,
    CredentialType,
    privilege_tier_for,
)

SECRET = "Canary-Secret-7f3a9c"
NOTES = "Canary-Notes-b81d2e: the break-glass PIN is in the safe"
SEED = "JBSWY3DPEHPK3PXPCANARY"


def manager_of(client):
    user = UserFactory(roles=[Role.MANAGER])
    assignment_grant(actor=None, client=client, user=user, level=AccessLevel.MANAGE)
    return user


def make_credential(*, client, actor=None, **overrides) -> Credential:
    """A credential of `client` created through the service (by a new manager if no actor)."""
    fields = {
        "name": "DC01 domain admin",
        "credential_type": CredentialType.DOMAIN_ADMIN,
        "secret": SECRET,
        "username": "CONTOSO\\administrator",
        "notes": NOTES,
        "totp_seed": SEED,
        **overrides,
    }
    return services.credential_create(actor=actor or manager_of(client), client=client, **fields)


def opened(credential: Credential, field: str) -> str:
    row = Credential.objects.get(pk=credential.pk)
    return field_decrypt(
        client=row.client,
        record_type=CREDENTIAL_RECORD_TYPE,
        record_id=str(row.pk),
        field=field,
        sealed=getattr(row, field),
    ).decode()


@pytest.mark.parametrize(
    ("credential_type", "tier"),
    [
        ("domain_admin", "high"),
        ("firewall_admin", "high"),
        ("cloud_tenant_admin", "high"),
        ("local_admin", "high"),
        ("service_account", "service"),
        ("api_key", "service"),
        ("standard_user", "standard"),
        ("other", "standard"),
    ],
)
def test_tier_is_derived_from_the_type(credential_type, tier):
    assert privilege_tier_for(credential_type) == tier


@pytest.mark.parametrize(
    ("credential_type", "requested", "tier"),
    [
        ("standard_user", "high", "high"),
        ("standard_user", "service", "service"),
        ("api_key", "high", "high"),
        ("domain_admin", "standard", "high"),
        ("api_key", "standard", "service"),
    ],
)
def test_tier_override_only_raises(credential_type, requested, tier):
    assert privilege_tier_for(credential_type, requested) == tier


@pytest.mark.django_db
def test_create_seals_fields_derives_tier_and_rotation_and_records_one_event(alice, client_a):
    before = AuditEvent.objects.filter(action="credential.created").count()
    credential = make_credential(
        client=client_a,
        actor=alice,
        credential_type="domain_admin",
        requested_tier="standard",
        rotation_interval_days=90,
        tags=["M365", "backup", "m365"],
    )
    assert credential.privilege_tier == "high"
    assert opened(credential, "secret") == SECRET
    assert opened(credential, "notes") == NOTES
    assert opened(credential, "totp_seed") == SEED
    assert credential.next_rotation_due == credential.last_rotated_at + timezone.timedelta(days=90)
    assert sorted(t.name for t in credential.tags.all()) == ["backup", "m365"]
    events = AuditEvent.objects.filter(action="credential.created")
    assert events.count() == before + 1
    event = events.order_by("-sequence").first()
    assert event.actor_user_id == alice.pk
    assert event.client_id == client_a.pk
    assert event.target_id == str(credential.pk)


@pytest.mark.django_db
def test_inherited_credential_has_no_rotation_date_until_rotated(alice, client_a):
    credential = make_credential(
        client=client_a, actor=alice, source="inherited", rotation_interval_days=30
    )
    assert credential.last_rotated_at is None
    assert credential.next_rotation_due is None


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["active", "exposed", "compromised"])
def test_a_credential_is_created_with_its_known_status_recorded_in_the_event(
    alice, client_a, status
):
    credential = make_credential(client=client_a, actor=alice, source="intake", status=status)
    assert Credential.objects.get(pk=credential.pk).status == status
    event = AuditEvent.objects.get(action="credential.created", target_id=str(credential.pk))
    assert event.details["status"] == status


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["archived", "stolen", ""])
def test_a_credential_cannot_be_created_archived_or_with_an_unknown_status(alice, client_a, status):
    with pytest.raises(InvalidRequest, match="choose active, exposed or compromised"):
        make_credential(client=client_a, actor=alice, status=status)
    assert not Credential.objects.filter(client=client_a).exists()
    assert not AuditEvent.objects.filter(action="credential.created").exists()


@pytest.mark.django_db
def test_system_of_another_client_is_refused(alice, client_a, system_b):
    with pytest.raises(InvalidRequest, match="not one of Contoso Dental's systems"):
        make_credential(client=client_a, actor=alice, system=system_b)
    assert not Credential.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "host",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.contoso.example",
        "vbscript:msgbox(1)",
        '"><img src=x onerror=alert(1)>',
        "https://portal.example/<script>",
    ],
)
def test_unsafe_host_is_refused(alice, client_a, host):
    with pytest.raises(InvalidRequest, match="http"):
        make_credential(client=client_a, actor=alice, host=host)
    assert not Credential.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "host",
    [
        "dc01.contoso.local",
        "10.0.0.5:3389",
        "https://portal.azure.com/#home",
        "http://192.168.1.1/admin",
        "[fe80::1]:22",
        "fw01",
    ],
)
def test_host_names_and_web_addresses_are_accepted(alice, client_a, host):
    assert make_credential(client=client_a, actor=alice, host=host).host == host


@pytest.mark.django_db
def test_technician_with_use_level_cannot_create_edit_or_archive(alice, bob, client_a):
    credential = make_credential(client=client_a, actor=alice)
    with pytest.raises(AccessDenied, match="Ask a manager"):
        make_credential(client=client_a, actor=bob, name="Bob's")
    with pytest.raises(AccessDenied):
        services.credential_update(actor=bob, credential=credential, name="Renamed")
    with pytest.raises(AccessDenied):
        services.credential_archive(actor=bob, credential=credential, reason="no")
    assert list(Credential.objects.values_list("name", "status")) == [
        ("DC01 domain admin", "active")
    ]
    for action in ("credential.created", "credential.updated", "credential.archived"):
        assert AuditEvent.objects.get(action=action, outcome="denied").actor_user_id == bob.pk


@pytest.mark.django_db
def test_unassigned_technician_is_refused_as_not_found(alice, charlie, client_a):
    credential = make_credential(client=client_a, actor=alice)
    with pytest.raises(NotFound):
        services.credential_update(actor=charlie, credential=credential, name="Renamed")
    with pytest.raises(NotFound):
        selectors.credential_get_for_user(
            actor=charlie, credential_id=credential.pk, level=AccessLevel.VIEW
        )
    assert list(selectors.credential_list_for_user(actor=charlie)) == []
    event = AuditEvent.objects.get(action="credential.updated", outcome="denied")
    assert event.actor_user_id == charlie.pk


@pytest.mark.django_db
def test_a_new_secret_keeps_the_old_one_as_an_encrypted_version(alice, client_a):
    credential = make_credential(client=client_a, actor=alice)
    services.credential_update(
        actor=alice, credential=credential, secret="Rotated-Secret-1", reason="quarterly"
    )
    services.credential_update(actor=alice, credential=credential, secret="Rotated-Secret-2")
    assert opened(credential, "secret") == "Rotated-Secret-2"
    versions = list(
        CredentialSecretVersion.objects.filter(credential=credential).order_by("version")
    )
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].created_by == alice
    assert versions[0].reason == "quarterly"
    old = [
        field_decrypt(
            client=client_a,
            record_type=CREDENTIAL_VERSION_RECORD_TYPE,
            record_id=str(v.pk),
            field="secret",
            sealed=v.secret,
        ).decode()
        for v in versions
    ]
    assert old == [SECRET, "Rotated-Secret-1"]
    assert SECRET.encode() not in bytes(versions[0].secret)
    event = AuditEvent.objects.filter(action="credential.updated").order_by("-sequence").first()
    assert event.details["changed"] == ["last_rotated_at", "secret"]


@pytest.mark.django_db
def test_empty_secret_and_same_secret_keep_the_secret_and_make_no_version(alice, client_a):
    credential = make_credential(client=client_a, actor=alice)
    services.credential_update(actor=alice, credential=credential, secret="", name="Renamed")
    services.credential_update(actor=alice, credential=credential, secret=SECRET)
    assert opened(credential, "secret") == SECRET
    assert not CredentialSecretVersion.objects.exists()
    assert Credential.objects.get(pk=credential.pk).name == "Renamed"


@pytest.mark.django_db
def test_update_changes_metadata_notes_seed_and_tier_upward_only(alice, client_a, system_a):
    credential = make_credential(client=client_a, actor=alice, credential_type="standard_user")
    updated = services.credential_update(
        actor=alice,
        credential=credential,
        system=system_a,
        requested_tier="high",
        notes="",
        totp_seed="",
        tags=["vpn"],
        rotation_interval_days=30,
    )
    assert updated.privilege_tier == "high"
    assert opened(credential, "notes") == ""
    assert Credential.objects.get(pk=credential.pk).totp_seed is None
    assert updated.next_rotation_due == updated.last_rotated_at + timezone.timedelta(days=30)
    # The override stays when other fields change.
    again = services.credential_update(actor=alice, credential=updated, name="Still high")
    assert again.privilege_tier == "high"
    event = AuditEvent.objects.filter(action="credential.updated").order_by("-sequence").first()
    assert event.details == {"changed": ["name"]}


@pytest.mark.django_db
def test_archive_hides_from_lists_and_blocks_changes(alice, client_a):
    credential = make_credential(client=client_a, actor=alice)
    with pytest.raises(InvalidRequest, match="Say why"):
        services.credential_archive(actor=alice, credential=credential, reason=" ")
    services.credential_archive(actor=alice, credential=credential, reason="system retired")
    assert list(selectors.credential_list_for_user(actor=alice)) == []
    assert len(selectors.credential_list_for_user(actor=alice, include_archived=True)) == 1
    with pytest.raises(InvalidRequest, match="archived"):
        services.credential_update(actor=alice, credential=credential, name="Back")
    event = AuditEvent.objects.get(action="credential.archived")
    assert event.reason == "system retired"


@pytest.mark.django_db
def test_secret_notes_and_seed_never_reach_the_database_dump_or_events(alice, client_a):
    credential = make_credential(client=client_a, actor=alice)
    services.credential_update(actor=alice, credential=credential, secret="Second-Canary-99e1")
    services.credential_archive(actor=alice, credential=credential, reason="done")
    dump = database_dump()
    for canary in (SECRET, NOTES, SEED, "Second-Canary-99e1"):
        assert canary.encode() not in dump
    events = " ".join(
        f"{e.details} {e.reason} {e.target_label}"
        for e in AuditEvent.objects.filter(action__startswith="credential.")
    )
    for canary in (SECRET, NOTES, SEED, "Second-Canary-99e1"):
        assert canary not in events


@pytest.mark.django_db
def test_ciphertext_copied_to_another_credential_does_not_decrypt(alice, client_a):
    first = make_credential(client=client_a, actor=alice, name="First")
    second = make_credential(client=client_a, actor=alice, name="Second", secret="Other-1")
    table = connection.ops.quote_name(Credential._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secret FROM {table} WHERE id = %s",  # noqa: S608
            [first.pk.hex if connection.vendor == "sqlite" else first.pk],
        )
        donor = cursor.fetchone()[0]
        cursor.execute(
            f"UPDATE {table} SET secret = %s WHERE id = %s",  # noqa: S608
            [donor, second.pk.hex if connection.vendor == "sqlite" else second.pk],
        )
    assert bytes(Credential.objects.get(pk=second.pk).secret) == bytes(donor)
    with pytest.raises(SecretUnavailable):
        opened(second, "secret")
    with pytest.raises(SecretUnavailable):
        services.credential_update(actor=alice, credential=second, secret="New-2")
    event = AuditEvent.objects.filter(action="vault.decryption_failed").get()
    assert event.target_id == str(second.pk)


@pytest.mark.django_db
def test_search_matches_name_username_host_system_and_tag(alice, charlie, client_a, client_b):
    system = SystemFactory(client=client_a, name="EXCH01")
    make_credential(client=client_a, actor=alice, name="Firewall", host="fw.contoso.example")
    make_credential(client=client_a, actor=alice, name="Mail", system=system, username="svc-mail")
    make_credential(client=client_a, actor=alice, name="Tenant", tags=["m365"])
    make_credential(client=client_b, name="Firewall B")

    def names(**kwargs):
        return [c.name for c in selectors.credential_list_for_user(actor=alice, **kwargs)]

    assert names() == ["Firewall", "Mail", "Tenant"]
    assert names(search="FW.CONTOSO") == ["Firewall"]
    assert names(search="exch") == ["Mail"]
    assert names(search="svc-") == ["Mail"]
    assert names(search="m36") == ["Tenant"]
    assert names(tag="M365") == ["Tenant"]
    assert names(client=client_b) == []
    assert [c.name for c in selectors.credential_list_for_user(actor=charlie)] == ["Firewall B"]


@pytest.mark.django_db
def test_search_by_system_name_or_tag_finds_only_visible_credentials_in_order(
    alice, charlie, admin_user, client_a, client_b
):
    """The system and tag matches are looked up apart from the credentials (issue 9)."""
    exch_a = SystemFactory(client=client_a, name="EXCH01")
    exch_b = SystemFactory(client=client_b, name="EXCH01")
    make_credential(client=client_a, actor=alice, name="Mail", system=exch_a)
    make_credential(client=client_a, actor=alice, name="Backup job", tags=["exchange"])
    make_credential(client=client_a, actor=alice, name="Exchange admin", tags=["exchange"])
    make_credential(client=client_b, name="Fabrikam mail", system=exch_b)
    make_credential(client=client_b, name="Fabrikam backup", tags=["exchange"])
    archived = make_credential(client=client_a, actor=alice, name="Old mail", system=exch_a)
    services.credential_archive(actor=alice, credential=archived, reason="replaced")
    make_credential(client=client_a, actor=alice, name="Unrelated", username="svc-print")

    def names(actor, search, **kwargs):
        found = selectors.credential_list_for_user(actor=actor, search=search, **kwargs)
        return [c.name for c in found]

    assert names(alice, "exch") == ["Backup job", "Exchange admin", "Mail"]
    assert names(alice, "exch", include_archived=True) == [
        "Backup job",
        "Exchange admin",
        "Mail",
        "Old mail",
    ]
    assert names(charlie, "EXCH01") == ["Fabrikam mail"]
    assert names(charlie, "xchang") == ["Fabrikam backup"]
    # Both clients, by client name then name; a name and tag match is listed once.
    assert names(admin_user, "exch") == [
        "Backup job",
        "Exchange admin",
        "Mail",
        "Fabrikam backup",
        "Fabrikam mail",
    ]
    assert names(alice, "zz-nothing") == []
    assert names(alice, "%") == []  # icontains escapes LIKE's wildcards


TRIGRAM_INDEXES = {
    "vault_cred_name_trgm_idx",
    "vault_cred_username_trgm_idx",
    "vault_cred_host_trgm_idx",
}


def numbered_copies(credential: Credential, count: int) -> None:
    """`count` copies of the credential with numbered names, written by PostgreSQL itself."""
    numbered = {
        "id": "gen_random_uuid()",
        "name": "'Workstation ' || n || ' local admin'",
        "username": "'user' || n",
        "host": "'ws' || n || '.contoso.example'",
    }
    quote = connection.ops.quote_name
    columns = [field.column for field in Credential._meta.concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Credential._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
            f"SELECT {', '.join(numbered.get(column, quote(column)) for column in columns)} "
            f"FROM {quote(Credential._meta.db_table)}, generate_series(1, %s) AS n WHERE id = %s",
            [count, credential.pk],
        )


@pytest.mark.django_db
def test_a_rare_search_term_is_answered_from_the_trigram_indexes_on_postgresql(alice, client_a):
    with connection.cursor() as cursor:
        indexes = set(connection.introspection.get_constraints(cursor, "vault_credential"))
    if connection.vendor != "postgresql":
        assert indexes.isdisjoint(TRIGRAM_INDEXES)  # the migration creates them on PostgreSQL only
        return
    assert indexes >= TRIGRAM_INDEXES
    # With a few thousand visible credentials, reading them all is cheaper than an index.
    numbered_copies(make_credential(client=client_a, actor=alice), 10_000)
    make_credential(client=client_a, actor=alice, name="Kiosk", host="zephyrine.contoso.example")
    with connection.cursor() as cursor:
        # As autovacuum would: new rows wait in each GIN index's pending list, which the
        # planner prices as a full read, and the planner needs statistics on the rows.
        for index in sorted(TRIGRAM_INDEXES):
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute("ANALYZE vault_credential")
    found = selectors.credential_list_for_user(actor=alice, search="Zephyrine")[:50]
    assert [c.name for c in found] == ["Kiosk"]
    plan = found.explain()
    assert any(index in plan for index in TRIGRAM_INDEXES), plan


@pytest.mark.django_db
def test_get_for_user_explains_a_short_level(alice, bob, client_a):
    credential = make_credential(client=client_a, actor=alice)
    found = selectors.credential_get_for_user(
        actor=bob, credential_id=credential.pk, level=AccessLevel.VIEW
    )
    assert found.my_level == AccessLevel.USE
    with pytest.raises(AccessDenied, match="You have use access to Contoso Dental"):
        selectors.credential_get_for_user(
            actor=bob, credential_id=credential.pk, level=AccessLevel.MANAGE
        )


@pytest.mark.django_db
def test_client_key_rotation_re_encrypts_credentials_and_versions(alice, client_a, admin_user):
    credential = make_credential(client=client_a, actor=alice)
    services.credential_update(actor=alice, credential=credential, secret="After-Rotation")
    services.client_key_rotation_start(actor=admin_user, client=client_a)
    assert services.client_key_rotation_remaining(client_id=client_a.pk) == 4
    assert services.client_key_rotation_step(client_id=client_a.pk, batch_size=50) == 0
    data_key_cache_clear()
    assert opened(credential, "secret") == "After-Rotation"
    assert opened(credential, "notes") == NOTES
    assert opened(credential, "totp_seed") == SEED
    version = CredentialSecretVersion.objects.get(credential=credential)
    assert (
        field_decrypt(
            client=client_a,
            record_type=CREDENTIAL_VERSION_RECORD_TYPE,
            record_id=str(version.pk),
            field="secret",
            sealed=version.secret,
        ).decode()
        == SECRET
    )
    states = dict(ClientDataKey.objects.filter(client=client_a).values_list("version", "state"))
    assert states == {1: "destroyed", 2: "active"}


# --- Where a secret is used ------------------------------------------------------------------

USED_BY = "Scheduled task Nightly backup on SRV01\nIIS app pool FrontDesk on WEB01"


@pytest.mark.django_db
def test_used_by_is_kept_in_clear_and_its_change_is_audited_by_name_only(alice, client_a):
    credential = make_credential(
        client=client_a,
        actor=alice,
        credential_type="service_account",
        used_by="  Scheduled task Nightly backup on SRV01\r\nIIS app pool FrontDesk on WEB01 \n",
    )
    assert Credential.objects.get(pk=credential.pk).used_by == USED_BY  # not secret: no seal
    created = AuditEvent.objects.filter(action="credential.created").order_by("-sequence").first()
    assert "SRV01" not in str(created.details)

    services.credential_update(
        actor=alice, credential=credential, used_by=USED_BY + "\nSQL Agent job on SQL02"
    )
    assert Credential.objects.get(pk=credential.pk).used_by.endswith("SQL Agent job on SQL02")
    event = AuditEvent.objects.filter(action="credential.updated").order_by("-sequence").first()
    assert event.details == {"changed": ["used_by"]}
    assert "SQL02" not in str(event.details) + event.reason

    services.credential_update(actor=alice, credential=credential, name="Backup agent")
    event = AuditEvent.objects.filter(action="credential.updated").order_by("-sequence").first()
    assert event.details == {"changed": ["name"]}


@pytest.mark.django_db
def test_used_by_over_2000_characters_is_refused(alice, client_a):
    with pytest.raises(InvalidRequest, match="at most 2000 characters"):
        make_credential(client=client_a, actor=alice, used_by="x" * 2001)
    credential = make_credential(client=client_a, actor=alice, used_by="x" * 2000)
    with pytest.raises(InvalidRequest, match="at most 2000 characters"):
        services.credential_update(actor=alice, credential=credential, used_by="y" * 2001)
    assert Credential.objects.get(pk=credential.pk).used_by == "x" * 2000


@pytest.mark.django_db
def test_a_rotation_cannot_change_where_the_secret_is_used(alice, bob, client_a):
    credential = make_credential(
        client=client_a, actor=alice, credential_type="standard_user", used_by=USED_BY
    )
    with pytest.raises(InvalidRequest, match="only the secret"):
        services.credential_update(
            actor=bob, credential=credential, secret="Rotated-1", used_by="", rotating=True
        )
    assert Credential.objects.get(pk=credential.pk).used_by == USED_BY
    assert opened(credential, "secret") == SECRET


@pytest.mark.django_db
def test_used_by_is_edited_on_the_form_and_shown_on_the_credential(client, alice, client_a):
    from tests.conftest import sign_in
    from tests.vault.test_credential_views import form_data

    credential = make_credential(client=client_a, actor=alice, used_by="Old place")
    sign_in(client, alice)
    base = f"/clients/{client_a.slug}/credentials/{credential.pk}/"
    edit = client.get(f"{base}edit/").content.decode()
    assert "Used by" in edit
    assert ">\nOld place</textarea>" in edit
    response = client.post(
        f"{base}edit/",
        form_data(secret="", notes="", totp_seed="", status="active", used_by=USED_BY),
    )
    assert response.status_code == 302
    assert Credential.objects.get(pk=credential.pk).used_by == USED_BY
    detail = client.get(base).content.decode()
    assert "Scheduled task Nightly backup on SRV01<br>IIS app pool FrontDesk on WEB01" in detail
    event = AuditEvent.objects.filter(action="credential.updated").order_by("-sequence").first()
    assert "used_by" in event.details["changed"]
