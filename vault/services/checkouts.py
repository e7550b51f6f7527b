"""Checkouts: exclusive, time-boxed leases of high-privilege credentials; client vault policy.

Every function is one transaction that records its audit event as its last write; refusals
are recorded as denied events by recording_failures. A lease is over at `expires_at` even
when the expiry job has not run yet: every service here first ends the credential's overdue
lease, and the reveal checks the time itself. Every end of a lease (check-in, expiry,
revocation) marks the credential as due for rotation in the same transaction.
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import alert_send
from audit.services import Attempt, Target, record, recording_failures
from config.errors import AccessDenied, FieldInvalid, InvalidRequest, NotFound
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user
from vault.models import (
    Checkout,
    ClientVaultPolicy,
    Credential,
    PrivilegeTier,
    RotationRequiredReason,
)

CHECKOUT_TICKET_MAX = 64
CHECKOUT_REASON_MAX = 500
CHECKOUT_NOTE_MAX = 500
CHECKOUT_MIN_MINUTES = 5
CHECKOUT_CEILING_MINUTES = 7 * 24 * 60


class CredentialHeld(AccessDenied):
    """Someone else holds the lease: a conflict of state (409), not a lack of access."""

    status = 409


def _credential_target(credential: Credential) -> Target:
    return Target(type="vault.credential", id=str(credential.pk), label=credential.name[:254])


def _until(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%d %b %Y %H:%M %Z")


def _credential_link(credential: Credential, client: Client) -> str:
    return reverse(
        "vault:credential_detail",
        kwargs={"slug": client.slug, "credential_id": credential.pk},
    )


def _notify(*, users: list[User], topic: str, subject: str, message: str, link: str) -> None:
    """An in-app notice and an outbox email for each person (delivered by the drain job)."""
    if users:
        alert_send(
            actor=None,
            topic=topic,
            recipients=users,
            subject=subject,
            body=message,
            link=link,
            notice=message,
        )


def _managers_of(client: Client) -> list[User]:
    """Staff with the Manager role and an active assignment to the client."""
    return list(
        User.objects.filter(
            is_active=True,
            groups__name=Role.MANAGER,
            assignments__client=client,
            assignments__revoked_at__isnull=True,
        )
        .distinct()
        .order_by("email")
    )


def _is_manager_of(user: User, client: Client) -> bool:
    return user.has_role(Role.MANAGER) and (
        Client.objects.for_user(user, AccessLevel.VIEW).filter(pk=client.pk).exists()
    )


def _require_manager(actor: User, client: Client, *, doing: str) -> None:
    client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.VIEW)
    if not _is_manager_of(actor, client):
        raise AccessDenied(f"Only a manager of {client.name} can {doing}.")


def _policy(client: Client) -> ClientVaultPolicy:
    from vault.selectors.policies import vault_policy_for

    return vault_policy_for(actor=None, client=client)


def _mark_rotation_required(credential: Credential, now: datetime) -> None:
    # Keeps the earliest mark: the credential has been due since the first lease ended.
    Credential.objects.filter(pk=credential.pk, rotation_required_at__isnull=True).update(
        rotation_required_at=now,
        rotation_required_reason=RotationRequiredReason.CHECKOUT_ENDED,
    )


def _lease_end(
    *,
    checkout: Checkout,
    status: str,
    ended_at: datetime,
    ended_by: User | None,
    note: str,
    topic: str,
) -> None:
    """End an active lease, mark its credential for rotation and tell the managers."""
    checkout.status = status
    checkout.ended_at = ended_at
    checkout.ended_by = ended_by
    checkout.end_note = note[:CHECKOUT_NOTE_MAX]
    checkout.save(update_fields=["status", "ended_at", "ended_by", "end_note"])
    credential = checkout.credential
    _mark_rotation_required(credential, ended_at)
    client = checkout.client
    how = {
        Checkout.Status.RETURNED: "was checked in",
        Checkout.Status.EXPIRED: "expired",
        Checkout.Status.REVOKED: "was revoked",
    }[status]
    holder = checkout.requested_by
    _notify(
        users=_managers_of(client),
        topic=topic,
        subject=f"Rotate {credential.name} ({client.name}): its checkout ended",
        message=(
            f"{holder}'s checkout of {credential.name} ({client.name}, ticket "
            f"{checkout.ticket}) {how}. Rotate the credential: it is due for rotation."
        ),
        link=_credential_link(credential, client),
    )


def _expire_overdue(*, credential: Credential, now: datetime) -> None:
    """End the credential's leases whose time is up (its row is locked by the caller)."""
    overdue = (
        Checkout.objects.select_for_update()
        .filter(credential=credential, status=Checkout.Status.ACTIVE, expires_at__lte=now)
        .select_related("client", "requested_by")
    )
    for checkout in overdue:
        checkout.credential = credential
        _lease_expire_and_record(checkout=checkout)


def _lease_expire_and_record(*, checkout: Checkout) -> None:
    credential = checkout.credential
    _lease_end(
        checkout=checkout,
        status=Checkout.Status.EXPIRED,
        ended_at=checkout.expires_at,
        ended_by=None,
        note="",
        topic="credential.checkout_expired",
    )
    _notify(
        users=[checkout.requested_by],
        topic="credential.checkout_expired",
        subject=f"Your checkout of {credential.name} expired",
        message=(
            f"Your checkout of {credential.name} ({checkout.client.name}) expired at "
            f"{_until(checkout.expires_at)}. Check it out again if the work is not done."
        ),
        link=_credential_link(credential, checkout.client),
    )
    record(
        actor=None,
        action="credential.checkout_expired",
        client=checkout.client,
        target=_credential_target(credential),
        ticket=checkout.ticket,
        details={"checkout": str(checkout.pk), "holder": str(checkout.requested_by_id)},
    )


def _locked_credential(credential: Credential) -> Credential:
    current = (
        Credential.objects.select_for_update()
        .filter(pk=credential.pk, client_id=credential.client_id)
        .defer("secret", "notes", "totp_seed")
        .first()
    )
    if current is None:
        raise NotFound()
    return current


def _locked_checkout(checkout: Checkout) -> Checkout:
    current = (
        Checkout.objects.select_for_update()
        .filter(pk=checkout.pk)
        .select_related("client", "requested_by")
        .first()
    )
    if current is None:
        raise NotFound()
    return current


def _held_message(holder: Checkout, actor: User) -> str:
    if holder.requested_by_id == actor.pk:
        return f"You already hold this credential until {_until(holder.expires_at)}."
    return (
        f"Held by {holder.requested_by} until {_until(holder.expires_at)}. "
        "Ask them to check it in, or a manager to revoke their checkout."
    )


def _active_lease(credential: Credential) -> Checkout | None:
    return (
        Checkout.objects.filter(credential=credential, status=Checkout.Status.ACTIVE)
        .select_related("requested_by")
        .first()
    )


def _lease_start(*, checkout: Checkout, actor: User, now: datetime) -> None:
    """Make the checkout the credential's active lease; the database allows only one."""
    checkout.status = Checkout.Status.ACTIVE
    checkout.starts_at = now
    checkout.expires_at = now + timedelta(minutes=checkout.duration_minutes)
    try:
        with transaction.atomic():
            checkout.save()
    except IntegrityError:
        holder = _active_lease(checkout.credential)
        if holder is None:
            raise
        raise CredentialHeld(_held_message(holder, actor)) from None


def _checked_out_record(*, checkout: Checkout, approved_by: User | None) -> None:
    """The event the monthly review reads: the holder opened a high-privilege credential."""
    details = {
        "checkout": str(checkout.pk),
        "duration_minutes": checkout.duration_minutes,
        "expires_at": checkout.expires_at.isoformat(),
    }
    if approved_by is not None:
        details["approved_by"] = str(approved_by.pk)
    record(
        actor=checkout.requested_by,
        action="credential.checked_out",
        client=checkout.client,
        target=_credential_target(checkout.credential),
        ticket=checkout.ticket,
        reason=checkout.reason,
        details=details,
    )


def _duration_clean(duration_minutes: int | None, policy: ClientVaultPolicy) -> int:
    if duration_minutes is None:
        return policy.checkout_default_minutes
    if duration_minutes < CHECKOUT_MIN_MINUTES:
        raise InvalidRequest(f"A checkout lasts at least {CHECKOUT_MIN_MINUTES} minutes.")
    if duration_minutes > policy.checkout_max_minutes:
        raise InvalidRequest(
            f"{policy.client.name} allows checkouts of up to {policy.checkout_max_minutes} "
            f"minutes; you asked for {duration_minutes}. Choose a shorter time."
        )
    return duration_minutes


def checkout_request(
    *,
    actor: User,
    credential: Credential,
    ticket: str,
    reason: str,
    duration_minutes: int | None = None,
) -> Checkout:
    """Ask for an exclusive lease of a high-privilege credential (privileged level).

    Starts at once, or waits for a manager when the client's policy asks for approval.
    `duration_minutes` None takes the policy's default. Refused, with the holder and the
    end time, while someone else holds the credential.
    """
    client = credential.client
    ticket = ticket.strip()
    reason = reason.strip()
    target = _credential_target(credential)
    attempt = Attempt(
        actor=actor,
        action="credential.checkout_requested",
        client=client,
        target=target,
        ticket=ticket[:CHECKOUT_TICKET_MAX],
        details={"tier": str(credential.privilege_tier)},
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.PRIVILEGED)
        if not ticket:
            raise InvalidRequest("Enter the ticket number this checkout is for.")
        if len(ticket) > CHECKOUT_TICKET_MAX:
            raise InvalidRequest(f"A ticket reference is at most {CHECKOUT_TICKET_MAX} characters.")
        if not reason:
            raise InvalidRequest("Say what you need this credential for.")
        if len(reason) > CHECKOUT_REASON_MAX:
            raise InvalidRequest(f"The reason is at most {CHECKOUT_REASON_MAX} characters.")
        policy = _policy(client)
        duration = _duration_clean(duration_minutes, policy)
        with transaction.atomic():
            current = _locked_credential(credential)
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; it cannot be checked out.")
            if current.privilege_tier != PrivilegeTier.HIGH:
                raise InvalidRequest(
                    "Only high-privilege credentials are checked out; reveal this one directly."
                )
            if current.is_emergency:
                raise InvalidRequest(
                    "This is a sealed emergency credential: open it with a stated reason instead."
                )
            now = timezone.now()
            _expire_overdue(credential=current, now=now)
            if Checkout.objects.filter(
                credential=current, requested_by=actor, status=Checkout.Status.REQUESTED
            ).exists():
                raise InvalidRequest(
                    "You already asked for this credential. Wait for a manager, or cancel "
                    "that request first."
                )
            checkout = Checkout(
                client=client,
                credential=current,
                requested_by=actor,
                ticket=ticket,
                reason=reason,
                duration_minutes=duration,
                status=Checkout.Status.REQUESTED,
                requested_at=now,
            )
            if policy.checkout_approval_required:
                holder = _active_lease(current)
                if holder is not None:
                    raise CredentialHeld(_held_message(holder, actor))
                checkout.save()
                _notify(
                    users=[m for m in _managers_of(client) if m.pk != actor.pk],
                    topic="credential.checkout_requested",
                    subject=f"Approve a checkout of {current.name} ({client.name})?",
                    message=(
                        f"{actor} asks to check out {current.name} ({client.name}) for "
                        f"{duration} minutes, ticket {ticket}: {reason}"
                    ),
                    link=reverse("vault:checkout_approvals"),
                )
            else:
                _lease_start(checkout=checkout, actor=actor, now=now)
            record(
                actor=actor,
                action="credential.checkout_requested",
                client=client,
                target=_credential_target(current),
                ticket=ticket,
                reason=reason,
                details={
                    "checkout": str(checkout.pk),
                    "duration_minutes": duration,
                    "approval_required": policy.checkout_approval_required,
                },
            )
            if checkout.status == Checkout.Status.ACTIVE:
                _checked_out_record(checkout=checkout, approved_by=None)
    return checkout


def _checkout_attempt(actor: User, checkout: Checkout, action: str) -> Attempt:
    return Attempt(
        actor=actor,
        action=action,
        client=checkout.client,
        target=_credential_target(checkout.credential),
        ticket=checkout.ticket,
        details={"checkout": str(checkout.pk)},
    )


def checkout_approve(*, actor: User, checkout: Checkout, note: str = "") -> Checkout:
    """A manager of the client (never the requester) approves a request; the lease starts."""
    client = checkout.client
    note = note.strip()
    with recording_failures(_checkout_attempt(actor, checkout, "credential.checkout_approved")):
        _require_manager(actor, client, doing="approve checkouts")
        if checkout.requested_by_id == actor.pk:
            raise AccessDenied(
                "You cannot approve your own checkout request; another manager must."
            )
        if len(note) > CHECKOUT_NOTE_MAX:
            raise InvalidRequest(f"The note is at most {CHECKOUT_NOTE_MAX} characters.")
        with transaction.atomic():
            credential = _locked_credential(checkout.credential)
            current = _locked_checkout(checkout)
            current.credential = credential
            if current.status != Checkout.Status.REQUESTED:
                raise InvalidRequest(
                    f"This request is no longer waiting ({current.get_status_display().lower()})."
                )
            if credential.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential was archived; deny the request instead.")
            requester = current.requested_by
            if not (
                requester.is_active
                and Client.objects.for_user(requester, AccessLevel.PRIVILEGED)
                .filter(pk=client.pk)
                .exists()
            ):
                raise InvalidRequest(
                    f"{requester} no longer has privileged access to {client.name}; "
                    "deny the request instead."
                )
            now = timezone.now()
            _expire_overdue(credential=credential, now=now)
            holder = _active_lease(credential)
            if holder is not None:
                raise InvalidRequest(_held_message(holder, actor))
            current.decided_by = actor
            current.decided_at = now
            current.decision_note = note
            _lease_start(checkout=current, actor=actor, now=now)
            _notify(
                users=[requester],
                topic="credential.checkout_approved",
                subject=f"Your checkout of {credential.name} is approved",
                message=(
                    f"{actor} approved your checkout of {credential.name} ({client.name}); "
                    f"it is yours until {_until(current.expires_at)}."
                    + (f" Note: {note}" if note else "")
                ),
                link=_credential_link(credential, client),
            )
            record(
                actor=actor,
                action="credential.checkout_approved",
                client=client,
                target=_credential_target(credential),
                ticket=current.ticket,
                reason=note,
                details={"checkout": str(current.pk), "holder": str(requester.pk)},
            )
            _checked_out_record(checkout=current, approved_by=actor)
    return current


def checkout_deny(*, actor: User, checkout: Checkout, note: str) -> Checkout:
    """A manager of the client (not the requester) turns a request down, saying why."""
    client = checkout.client
    note = note.strip()
    with recording_failures(_checkout_attempt(actor, checkout, "credential.checkout_denied")):
        _require_manager(actor, client, doing="deny checkouts")
        if checkout.requested_by_id == actor.pk:
            raise AccessDenied("You cannot answer your own request; cancel it instead.")
        if not note:
            raise InvalidRequest("Say why the request is denied, so the technician knows.")
        if len(note) > CHECKOUT_NOTE_MAX:
            raise InvalidRequest(f"The note is at most {CHECKOUT_NOTE_MAX} characters.")
        with transaction.atomic():
            current = _locked_checkout(checkout)
            if current.status != Checkout.Status.REQUESTED:
                raise InvalidRequest(
                    f"This request is no longer waiting ({current.get_status_display().lower()})."
                )
            current.status = Checkout.Status.DENIED
            current.decided_by = actor
            current.decided_at = timezone.now()
            current.decision_note = note
            current.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
            credential = checkout.credential
            _notify(
                users=[current.requested_by],
                topic="credential.checkout_denied",
                subject=f"Your checkout of {credential.name} was denied",
                message=f"{actor} denied your checkout of {credential.name}: {note}",
                link=_credential_link(credential, client),
            )
            record(
                actor=actor,
                action="credential.checkout_denied",
                client=client,
                target=_credential_target(credential),
                ticket=current.ticket,
                reason=note,
                details={"checkout": str(current.pk), "holder": str(current.requested_by_id)},
            )
    return current


def checkout_cancel(*, actor: User, checkout: Checkout) -> Checkout:
    """The requester withdraws a request that is still waiting for a manager."""
    client = checkout.client
    with recording_failures(_checkout_attempt(actor, checkout, "credential.checkout_cancelled")):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.VIEW)
        if checkout.requested_by_id != actor.pk:
            raise AccessDenied("Only the person who asked can cancel a checkout request.")
        with transaction.atomic():
            current = _locked_checkout(checkout)
            if current.status != Checkout.Status.REQUESTED:
                raise InvalidRequest(
                    f"This request is no longer waiting ({current.get_status_display().lower()})."
                )
            current.status = Checkout.Status.CANCELLED
            current.decided_at = timezone.now()
            current.save(update_fields=["status", "decided_at"])
            record(
                actor=actor,
                action="credential.checkout_cancelled",
                client=client,
                target=_credential_target(checkout.credential),
                ticket=current.ticket,
                details={"checkout": str(current.pk)},
            )
    return current


def checkout_check_in(*, actor: User, checkout: Checkout) -> Checkout:
    """The holder returns the credential; it is then due for rotation."""
    client = checkout.client
    with recording_failures(_checkout_attempt(actor, checkout, "credential.checked_in")):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.VIEW)
        if checkout.requested_by_id != actor.pk:
            raise AccessDenied("Only the holder checks a credential in; a manager can revoke it.")
        with transaction.atomic():
            credential = _locked_credential(checkout.credential)
            current = _locked_checkout(checkout)
            current.credential = credential
            if current.status != Checkout.Status.ACTIVE:
                raise InvalidRequest(
                    f"This checkout is not active ({current.get_status_display().lower()})."
                )
            now = timezone.now()
            _lease_end(
                checkout=current,
                status=Checkout.Status.RETURNED,
                ended_at=now,
                ended_by=actor,
                note="",
                topic="credential.checked_in",
            )
            record(
                actor=actor,
                action="credential.checked_in",
                client=client,
                target=_credential_target(credential),
                ticket=current.ticket,
                details={
                    "checkout": str(current.pk),
                    "after_end": now > current.expires_at,
                },
            )
    return current


def checkout_revoke(*, actor: User, checkout: Checkout, note: str) -> Checkout:
    """A manager of the client ends someone's lease early, saying why; the holder is told."""
    client = checkout.client
    note = note.strip()
    with recording_failures(_checkout_attempt(actor, checkout, "credential.checkout_revoked")):
        _require_manager(actor, client, doing="revoke checkouts")
        if not note:
            raise InvalidRequest("Say why the checkout is revoked, so the holder knows.")
        if len(note) > CHECKOUT_NOTE_MAX:
            raise InvalidRequest(f"The note is at most {CHECKOUT_NOTE_MAX} characters.")
        with transaction.atomic():
            credential = _locked_credential(checkout.credential)
            current = _locked_checkout(checkout)
            current.credential = credential
            if current.status != Checkout.Status.ACTIVE:
                raise InvalidRequest(
                    f"This checkout is not active ({current.get_status_display().lower()})."
                )
            now = timezone.now()
            _lease_end(
                checkout=current,
                status=Checkout.Status.REVOKED,
                ended_at=now,
                ended_by=actor,
                note=note,
                topic="credential.checkout_revoked",
            )
            _notify(
                users=[current.requested_by],
                topic="credential.checkout_revoked",
                subject=f"Your checkout of {credential.name} was revoked",
                message=f"{actor} ended your checkout of {credential.name} ({client.name}): {note}",
                link=_credential_link(credential, client),
            )
            record(
                actor=actor,
                action="credential.checkout_revoked",
                client=client,
                target=_credential_target(credential),
                ticket=current.ticket,
                reason=note,
                details={"checkout": str(current.pk), "holder": str(current.requested_by_id)},
            )
    return current


def checkouts_end_for_lost_access(*, actor: User | None, client: Client, user: User) -> int:
    """End `user`'s leases and pending requests on `client` whose access was lowered.

    Runs inside the transaction that lowered or revoked the access (tenants signal): each
    active lease is revoked, its credential due for rotation and the managers told; a
    pending request is cancelled. Returns how many leases and requests it ended.
    """
    note = "Access to the client was lowered or revoked."
    ended = 0
    mine = Checkout.objects.filter(client=client, requested_by=user).select_related(
        "client", "requested_by", "credential"
    )
    for pending in mine.filter(status=Checkout.Status.REQUESTED).select_for_update():
        pending.status = Checkout.Status.CANCELLED
        pending.decided_at = timezone.now()
        pending.decision_note = note
        pending.save(update_fields=["status", "decided_at", "decision_note"])
        record(
            actor=actor,
            action="credential.checkout_cancelled",
            client=client,
            target=_credential_target(pending.credential),
            ticket=pending.ticket,
            reason=note,
            details={"checkout": str(pending.pk), "requested_by": str(user.pk)},
        )
        ended += 1
    for lease in mine.filter(status=Checkout.Status.ACTIVE).order_by("credential_id"):
        credential = _locked_credential(lease.credential)
        current = _locked_checkout(lease)
        if current.status != Checkout.Status.ACTIVE:
            continue
        current.credential = credential
        _lease_end(
            checkout=current,
            status=Checkout.Status.REVOKED,
            ended_at=timezone.now(),
            ended_by=actor,
            note=note,
            topic="credential.checkout_revoked",
        )
        record(
            actor=actor,
            action="credential.checkout_revoked",
            client=client,
            target=_credential_target(credential),
            ticket=current.ticket,
            reason=note,
            details={"checkout": str(current.pk), "holder": str(user.pk)},
        )
        ended += 1
    return ended


def checkouts_expire() -> int:
    """End every lease past its end time (the beat job); returns how many it ended.

    Idempotent and safe beside another run: each lease ends in a transaction of its own,
    with its credential's row locked, and only if it is still active and overdue then.
    """
    now = timezone.now()
    due = list(
        Checkout.objects.filter(status=Checkout.Status.ACTIVE, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", "credential_id")
    )
    ended = 0
    for checkout_id, credential_id in due:
        with transaction.atomic():
            credential = (
                Credential.objects.select_for_update()
                .filter(pk=credential_id)
                .defer("secret", "notes", "totp_seed")
                .first()
            )
            checkout = (
                Checkout.objects.select_for_update()
                .filter(pk=checkout_id, status=Checkout.Status.ACTIVE, expires_at__lte=now)
                .select_related("client", "requested_by")
                .first()
            )
            if credential is None or checkout is None:
                continue  # ended meanwhile (checked in, revoked, or another run)
            checkout.credential = credential
            _lease_expire_and_record(checkout=checkout)
            ended += 1
    return ended


# --- Client vault policy ---------------------------------------------------------------------


def _policy_values_check(*, default_minutes: int, max_minutes: int) -> None:
    if default_minutes < CHECKOUT_MIN_MINUTES:
        raise FieldInvalid(
            "checkout_default_minutes",
            f"The default checkout length is at least {CHECKOUT_MIN_MINUTES} minutes.",
        )
    if max_minutes > CHECKOUT_CEILING_MINUTES:
        raise FieldInvalid(
            "checkout_max_minutes",
            f"The longest checkout is at most {CHECKOUT_CEILING_MINUTES} minutes (7 days).",
        )
    if max_minutes < CHECKOUT_MIN_MINUTES:
        raise FieldInvalid(
            "checkout_max_minutes",
            f"The longest checkout is at least {CHECKOUT_MIN_MINUTES} minutes.",
        )
    if default_minutes > max_minutes:
        raise FieldInvalid(
            "checkout_default_minutes",
            f"The default ({default_minutes} minutes) cannot be longer than the longest "
            f"checkout ({max_minutes} minutes).",
        )


def client_vault_policy_update(
    *,
    actor: User,
    client: Client,
    reveal_ticket_required: bool,
    checkout_approval_required: bool,
    checkout_default_minutes: int,
    checkout_max_minutes: int,
) -> ClientVaultPolicy:
    """Set how the client's credentials are opened (manage level); records what changed."""
    attempt = Attempt(
        actor=actor,
        action="client.vault_policy_updated",
        client=client,
        target=Target(type="tenants.client", id=str(client.pk), label=client.name[:254]),
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        _policy_values_check(
            default_minutes=checkout_default_minutes, max_minutes=checkout_max_minutes
        )
        with transaction.atomic():
            policy = ClientVaultPolicy.objects.select_for_update().filter(client=client).first()
            if policy is None:
                policy = _policy(client)
            new = {
                "reveal_ticket_required": bool(reveal_ticket_required),
                "checkout_approval_required": bool(checkout_approval_required),
                "checkout_default_minutes": checkout_default_minutes,
                "checkout_max_minutes": checkout_max_minutes,
            }
            changed = {
                field: {"from": getattr(policy, field), "to": value}
                for field, value in new.items()
                if getattr(policy, field) != value or policy._state.adding
            }
            for field, value in new.items():
                setattr(policy, field, value)
            policy.updated_at = timezone.now()
            policy.updated_by = actor
            policy.save()
            record(
                actor=actor,
                action="client.vault_policy_updated",
                client=client,
                target=attempt.target,
                details={"changed": changed},
            )
    return policy
