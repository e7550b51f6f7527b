"""Verifying the audit chain, and writing its head outside the database.

A chain inside the database cannot reveal a restored old backup or a tail cut off by
someone who also fixed the head row, so the head is also written, signed, to a checkpoint
file (and the SIEM feed); verification checks the database against the latest checkpoint.
"""

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Notification, Role, User
from audit import chain, siem
from audit import services as audit
from audit.models import AuditChainHead, AuditEvent, Outcome

CHECKPOINT_FILE = "checkpoints.jsonl"
logger = logging.getLogger(__name__)
_VERIFY_COLUMNS = ("previous_hash", "entry_hash", *chain.HASHED_FIELDS)


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    head_sequence: int
    problem: str = ""
    first_bad_sequence: int | None = None
    checkpoint_sequence: int | None = None

    @property
    def summary(self) -> str:
        if self.ok:
            checkpoint = (
                f", consistent with the checkpoint at #{self.checkpoint_sequence}"
                if self.checkpoint_sequence
                else ""
            )
            checked = f"{self.checked} events checked up to #{self.head_sequence}"
            return f"Audit chain intact: {checked}{checkpoint}."
        return f"Audit chain broken: {self.problem}"


def _checkpoint_path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR) / CHECKPOINT_FILE


def _checkpoint_signature(*, sequence: int, entry_hash: str, written_at: str, key: bytes) -> str:
    message = f"keyhold-audit-checkpoint-v1\x00{sequence}\x00{entry_hash}\x00{written_at}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def checkpoint_latest() -> dict | None:
    """The newest checkpoint whose signature holds, or None when none was written yet."""
    path = _checkpoint_path()
    if not path.exists():
        return None
    latest = None
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
            _, key = chain.chain_key(int(record["key_version"]))
            expected = _checkpoint_signature(
                sequence=int(record["sequence"]),
                entry_hash=record["entry_hash"],
                written_at=record["written_at"],
                key=key,
            )
        except (ValueError, KeyError, TypeError):
            continue
        if hmac.compare_digest(expected, record.get("signature", "")):
            latest = record
    return latest


def audit_checkpoint_write() -> dict | None:
    """Append the chain head, signed, to the checkpoint file; None if nothing new happened.

    The checkpoint's own event is recorded first and the file line names it, so an idle
    log is not checkpointed again and again. The line is written and synced before the
    transaction commits: a failed write leaves no event claiming a checkpoint.
    """
    head = AuditChainHead.objects.filter(pk=1).first()
    previous = checkpoint_latest()
    if head is None or head.sequence == 0:
        return None
    if previous and int(previous["sequence"]) == head.sequence:
        return None
    with transaction.atomic():
        event = audit.record(
            actor=None,
            actor_label="audit checkpoint job",
            action="audit.checkpoint_written",
            details={"file": str(_checkpoint_path())},
        )
        key_version, key = chain.chain_key()
        written_at = timezone.now().isoformat(timespec="seconds")
        record = {
            "type": "checkpoint",
            "sequence": event.sequence,
            "entry_hash": event.entry_hash,
            "written_at": written_at,
            "key_version": key_version,
        }
        record["signature"] = _checkpoint_signature(
            sequence=event.sequence, entry_hash=event.entry_hash, written_at=written_at, key=key
        )
        path = _checkpoint_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a") as handle:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    try:
        siem.siem_send_checkpoint(record)
    except siem.SiemDeliveryError:
        # The file holds the checkpoint; the SIEM copy follows with the next one.
        logger.warning("audit.checkpoint_not_forwarded", extra={"sequence": record["sequence"]})
    return record


def audit_chain_check() -> ChainVerification:
    """Walk every event in sequence order and check gaps, links, hashes, head and checkpoint.

    The head is read first and the walk stops there: events appended while a long walk runs
    belong to the next verification, not to a false "events were removed".
    """
    return audit_chain_check_up_to(AuditChainHead.objects.filter(pk=1).first())


def audit_chain_check_up_to(head: AuditChainHead | None) -> ChainVerification:
    """Check the chain as far as the given head (None: every event there is)."""
    keys: dict[int, bytes] = {}
    expected_sequence = 1
    previous_hash = chain.GENESIS_HASH
    rows = AuditEvent.objects.order_by("sequence").values_list(*_VERIFY_COLUMNS)
    if head is not None:
        rows = rows.filter(sequence__lte=head.sequence)
    for row in rows.iterator(chunk_size=5000):
        stored_previous, stored_hash, *values = row
        fields = dict(zip(chain.HASHED_FIELDS, values, strict=True))
        sequence = fields["sequence"]
        if sequence != expected_sequence:
            return ChainVerification(
                ok=False,
                checked=expected_sequence - 1,
                head_sequence=expected_sequence - 1,
                problem=f"event #{expected_sequence} is missing (deleted), next is #{sequence}.",
                first_bad_sequence=expected_sequence,
            )
        if stored_previous != previous_hash:
            return _broken(sequence, "does not follow the event before it (reordered or inserted)")
        version = fields["key_version"]
        if version not in keys:
            try:
                keys[version] = chain.chain_key(version)[1]
            except Exception:
                return _broken(sequence, f"names key version {version}, which the system keys lack")
        recomputed = chain.entry_hash(previous_hash=previous_hash, fields=fields, key=keys[version])
        if not hmac.compare_digest(recomputed, stored_hash):
            return _broken(sequence, "was altered (its hash does not match its content)")
        previous_hash = stored_hash
        expected_sequence += 1
    last = expected_sequence - 1
    if head is not None and (head.sequence, head.entry_hash) != (last, previous_hash):
        if head.sequence > last:
            problem = (
                f"the newest events from #{last + 1} on were removed "
                f"(the head says #{head.sequence})."
            )
        else:
            problem = f"the chain head (#{head.sequence}) does not match the last event (#{last})."
        return ChainVerification(
            ok=False, checked=last, head_sequence=last, problem=problem, first_bad_sequence=last + 1
        )
    return _against_checkpoint(checked=last, last_hash=previous_hash)


def _broken(sequence: int, what: str) -> ChainVerification:
    return ChainVerification(
        ok=False,
        checked=sequence - 1,
        head_sequence=sequence - 1,
        problem=f"event #{sequence} {what}.",
        first_bad_sequence=sequence,
    )


def _against_checkpoint(*, checked: int, last_hash: str) -> ChainVerification:
    checkpoint = checkpoint_latest()
    if checkpoint is None:
        return ChainVerification(ok=True, checked=checked, head_sequence=checked)
    sequence = int(checkpoint["sequence"])
    if sequence > checked:
        return ChainVerification(
            ok=False,
            checked=checked,
            head_sequence=checked,
            problem=(
                f"the database ends at #{checked} but the checkpoint of "
                f"{checkpoint['written_at']} saw #{sequence}: events from #{checked + 1} on were "
                "removed, or an older backup was restored."
            ),
            first_bad_sequence=checked + 1,
            checkpoint_sequence=sequence,
        )
    stored = AuditEvent.objects.filter(sequence=sequence).values_list("entry_hash", flat=True)
    if list(stored) != [checkpoint["entry_hash"]]:
        return ChainVerification(
            ok=False,
            checked=checked,
            head_sequence=checked,
            problem=f"event #{sequence} differs from the checkpoint of {checkpoint['written_at']}.",
            first_bad_sequence=sequence,
            checkpoint_sequence=sequence,
        )
    return ChainVerification(
        ok=True, checked=checked, head_sequence=checked, checkpoint_sequence=sequence
    )


def audit_chain_verify(*, actor: User | None, job: str) -> ChainVerification:
    """Verify the chain, record the run, and alert every manager when it is broken."""
    result = audit_chain_check()
    try:
        with transaction.atomic():
            audit.record(
                actor=actor,
                actor_label="" if actor else job,
                action="audit.verified",
                outcome=Outcome.SUCCESS if result.ok else Outcome.ERROR,
                reason="" if result.ok else result.problem,
                details={
                    "checked": result.checked,
                    "first_bad_sequence": result.first_bad_sequence,
                    "checkpoint_sequence": result.checkpoint_sequence,
                },
            )
    except audit.AuditWriteError:
        # A tampered chain may refuse new events; the alert below must still go out.
        logger.exception("audit.verification_not_recorded")
        if result.ok:
            raise
    if not result.ok:
        with transaction.atomic():
            _alert_managers(result)
    return result


def _alert_managers(result: ChainVerification) -> None:
    managers = list(User.objects.filter(is_active=True, groups__name=Role.MANAGER).distinct())
    message = f"Audit log tamper check failed: {result.problem}"
    Notification.objects.bulk_create(
        Notification(user=manager, message=message[:500], link="") for manager in managers
    )
    recipients = [manager.email for manager in managers]
    if recipients:
        transaction.on_commit(
            lambda: send_mail(
                subject="Keyhold: the audit log failed its tamper check",
                message=(
                    f"{message}\n\nSomeone with direct database access may have changed the "
                    "audit log, or a backup was restored. Run `python manage.py audit_verify` "
                    "and investigate before trusting the log."
                ),
                from_email=None,
                recipient_list=recipients,
                fail_silently=False,
            )
        )
