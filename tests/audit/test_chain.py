"""audit_verify finds every kind of tampering, and says how much it checked when none."""

import json
import re
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from audit import chain
from audit import services as audit
from audit.models import AuditChainHead, AuditEvent
from audit.verification import audit_chain_check, audit_checkpoint_write
from tests.audit.helpers import as_superuser
from tests.factories import UserFactory


@pytest.fixture
def events(db, client_a):
    """Six events, #1 to #6, by a manager who has no assignment (so no event of their own)."""
    manager = UserFactory(roles=["Manager"])
    assert not AuditEvent.objects.exists()
    with transaction.atomic():
        for number in range(6):
            audit.record(
                actor=manager,
                action="staff.signed_in" if number % 2 else "assignment.granted",
                client=client_a if number % 2 == 0 else None,
                details={"number": number},
            )
    return list(AuditEvent.objects.order_by("sequence"))


def verify_fails_at(sequence: int) -> str:
    with pytest.raises(CommandError) as error:
        call_command("audit_verify")
    message = str(error.value)
    assert f"#{sequence}" in message, message
    return message


def test_intact_chain_verifies_and_counts(events, capsys):
    call_command("audit_verify")
    output = capsys.readouterr().out
    assert "Audit chain intact: 6 events checked up to #6" in output
    assert AuditEvent.objects.filter(action="audit.verified", outcome="success").count() == 1


def test_changed_field_is_found(events):
    as_superuser(("UPDATE audit_auditevent SET ticket = 'T-1' WHERE sequence = 3", []))
    assert "was altered" in verify_fails_at(3)


def test_changed_details_are_found(events):
    as_superuser(
        ("UPDATE audit_auditevent SET details = %s WHERE sequence = 4", [json.dumps({"n": 9})])
    )
    verify_fails_at(4)


def test_deleted_event_is_found(events):
    as_superuser(("DELETE FROM audit_auditevent WHERE sequence = 2", []))
    assert "missing" in verify_fails_at(2)


def test_two_swapped_events_are_found(events):
    columns = [f.column for f in AuditEvent._meta.fields if f.column != "sequence"]
    assignments = ", ".join(f"{c} = other.{c}" for c in columns)
    as_superuser(
        ("CREATE TEMP TABLE swap AS SELECT * FROM audit_auditevent WHERE sequence IN (3, 4)", []),
        (
            f"UPDATE audit_auditevent SET {assignments} FROM swap AS other "  # noqa: S608
            "WHERE audit_auditevent.sequence = 3 AND other.sequence = 4",
            [],
        ),
        (
            f"UPDATE audit_auditevent SET {assignments} FROM swap AS other "  # noqa: S608
            "WHERE audit_auditevent.sequence = 4 AND other.sequence = 3",
            [],
        ),
        ("DROP TABLE swap", []),
    )
    assert AuditEvent.objects.get(sequence=3).details == {"number": 3}
    verify_fails_at(3)


def test_forged_event_inserted_is_found(events):
    last = events[-1]
    forged = {f: getattr(last, f) for f in chain.HASHED_FIELDS}
    forged.update(sequence=7, action="staff.signed_out", reason="forged")
    fake_hash = chain.entry_hash(
        previous_hash=last.entry_hash, fields=forged, key=b"not the chain key" * 2
    )
    AuditEvent.objects.create(**forged, previous_hash=last.entry_hash, entry_hash=fake_hash)
    as_superuser(
        ("UPDATE audit_auditchainhead SET sequence = 7, entry_hash = %s", [fake_hash]),
    )
    assert "was altered" in verify_fails_at(7)


def test_forged_event_in_the_middle_is_found(events):
    as_superuser(
        ("UPDATE audit_auditevent SET sequence = sequence + 100 WHERE sequence >= 4", []),
        ("UPDATE audit_auditevent SET sequence = sequence - 99 WHERE sequence >= 104", []),
    )
    third = AuditEvent.objects.get(sequence=3)
    forged = {f: getattr(third, f) for f in chain.HASHED_FIELDS}
    forged.update(sequence=4, action="staff.signed_out")
    AuditEvent.objects.create(**forged, previous_hash=third.entry_hash, entry_hash="f" * 64)
    verify_fails_at(4)


def test_newest_events_removed_with_the_head_fixed_are_found_by_the_checkpoint(events):
    audit_checkpoint_write()
    fourth = AuditEvent.objects.get(sequence=4)
    as_superuser(
        ("DELETE FROM audit_auditevent WHERE sequence > 4", []),
        (
            "UPDATE audit_auditchainhead SET sequence = 4, entry_hash = %s",
            [fourth.entry_hash],
        ),
    )
    message = verify_fails_at(5)
    assert "checkpoint" in message


def test_newest_events_removed_without_fixing_the_head_are_found(events):
    as_superuser(("DELETE FROM audit_auditevent WHERE sequence > 4", []))
    assert "removed" in verify_fails_at(5)


def test_checkpoint_is_signed_and_forged_lines_are_ignored(events, settings):
    record = audit_checkpoint_write()
    assert record["sequence"] == 7
    path = settings.AUDIT_CHECKPOINT_DIR / "checkpoints.jsonl"
    forged = dict(record, sequence=99, signature="0" * 64)
    with path.open("a") as handle:
        handle.write(json.dumps(forged) + "\n")
    assert audit_chain_check().ok


def test_checkpoint_is_written_only_when_the_head_moved(events):
    alice = UserFactory()
    first = audit_checkpoint_write()
    assert first["sequence"] == 7
    assert AuditEvent.objects.get(sequence=7).action == "audit.checkpoint_written"
    assert audit_checkpoint_write() is None
    with transaction.atomic():
        audit.record(actor=alice, action="staff.signed_in")
    assert audit_checkpoint_write()["sequence"] > first["sequence"]


def test_broken_chain_alerts_every_manager_by_mail_and_notice(
    events, mailoutbox, django_capture_on_commit_callbacks
):
    managers = set(AuditEvent.objects.values_list("actor_user", flat=True).distinct())
    other_manager = UserFactory(roles=["Manager"])
    technician = UserFactory(roles=["Technician"])
    as_superuser(("UPDATE audit_auditevent SET reason = 'x' WHERE sequence = 2", []))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(CommandError):
        call_command("audit_verify")
    notified = set(Notification.objects.values_list("user", flat=True))
    assert notified == managers | {other_manager.pk}
    assert technician.pk not in notified
    assert len(mailoutbox) == 1
    assert other_manager.email in mailoutbox[0].to
    assert technician.email not in mailoutbox[0].to
    assert AuditEvent.objects.filter(action="audit.verified", outcome="error").count() == 1


@pytest.mark.django_db
def test_the_head_is_locked_only_for_the_append_itself():
    """Every audited action waits on the head's lock until its commit: nothing else, such
    as reading the chain key, may run while it is held."""
    alice = UserFactory()
    with transaction.atomic():
        audit.record(actor=alice, action="staff.signed_in")  # the system key now exists
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        audit.record(actor=alice, action="staff.signed_in")
    statements = [
        (sql.split()[0], re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql).group(1))
        for sql in (query["sql"] for query in queries.captured_queries)
        if sql.startswith(("SELECT", "INSERT", "UPDATE"))
    ]
    locked = statements.index(("SELECT", "audit_auditchainhead"))
    assert ("SELECT", "vault_systemkey") in statements[:locked]
    assert statements[locked:] == [
        ("SELECT", "audit_auditchainhead"),
        ("INSERT", "audit_auditevent"),
        ("UPDATE", "audit_auditchainhead"),
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_appends_make_one_gap_free_chain():
    alice = UserFactory()
    errors = []

    def append(worker: int) -> None:
        try:
            for number in range(10):
                with transaction.atomic():
                    audit.record(
                        actor=alice, action="staff.signed_in", details={"w": worker, "n": number}
                    )
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sequences = list(AuditEvent.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, 61))
    assert AuditChainHead.objects.get(pk=1).sequence == 60
    assert audit_chain_check().ok


def test_nightly_task_verifies_and_reports(events):
    from audit.tasks import audit_chain_verify, audit_checkpoint_write

    assert audit_checkpoint_write.delay().get() == 7
    summary = audit_chain_verify.delay().get()
    assert summary.startswith("Audit chain intact: 7 events")
    assert "checkpoint at #7" in summary


def test_events_appended_during_verification_are_left_for_the_next_run(events):
    """The walk stops at the head it read first; a later append is no sign of tampering."""
    from audit.verification import audit_chain_check_up_to

    head_when_the_walk_began = AuditChainHead.objects.get(pk=1)
    with transaction.atomic():
        audit.record(actor=None, action="staff.signed_in")
    result = audit_chain_check_up_to(head_when_the_walk_began)
    assert result.ok, result.problem
    assert result.checked == 6
    assert audit_chain_check().checked == 7
