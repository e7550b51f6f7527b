from celery import shared_task

from audit import siem, verification


@shared_task
def audit_siem_forward() -> str:
    """Forward new audit events to the SIEM; a no-op, saying so, when none is configured."""
    return siem.siem_forward()


@shared_task
def audit_chain_verify() -> str:
    """Nightly: verify the chain and the latest checkpoint; managers are alerted if broken."""
    return verification.audit_chain_verify(actor=None, job="nightly audit verification").summary


@shared_task
def audit_checkpoint_write() -> int | None:
    """Write the chain head outside the database; returns its sequence, None when unchanged."""
    record = verification.audit_checkpoint_write()
    return record["sequence"] if record else None
