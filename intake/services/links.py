"""Client intake links: a one-time page where a client contact sends the credentials asked for.

The link carries a 256-bit token; only its SHA-256 is stored. Opening the page reads nothing
secret and consumes nothing; sending (one POST) is decided by a single conditional UPDATE, so
exactly one submission is ever staged however many arrive at once. Every value is sealed with
the client's key on arrival and waits in the staging area until onboarding staff accept it
into the vault or reject it. An unknown, expired, revoked or used link gets one refusal, and
every refused hit is audited (with the link's id when there is a link, never the token).
"""

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import User
from accounts.services import alert_send
from audit.models import ActorKind, Outcome
from audit.services import Attempt, Target, record, recording_failures
from config.errors import FieldInvalid, InvalidRequest, KeyholdError, NotFound
from intake.models import (
    STAGED_CREDENTIAL_RECORD_TYPE,
    IntakeLink,
    IntakeLinkRequest,
    StagedCredential,
)
from tenants.models import AccessLevel, Client, System
from tenants.selectors import client_get_for_user
from vault.envelope import field_decrypt, field_encrypt, recording_decryption_failures
from vault.models import Credential, CredentialType
from vault.services import credential_create

TOKEN_BYTES = 32
EXPIRY_HOURS_DEFAULT = 72
EXPIRY_HOURS_MAX = 720
SYSTEMS_MAX = 20
CONTACT_NAME_MAX = 200
MESSAGE_MAX = 1000
SYSTEM_NAME_MAX = 200
USERNAME_HINT_MAX = 254
NOTE_MAX = 500
REJECT_REASON_MAX = 500
# What a contact may type per system.
VALUE_LIMITS = {"username": 254, "secret": 4096, "url": 500, "notes": 4000, "totp": 512}
VALUE_FIELDS = (*VALUE_LIMITS, "mfa_on_path")
LINK_HOLDER = "client contact via intake link"
GONE_MESSAGE = "This link has expired or has already been used."
# A web address or a bare host name; anything with another scheme (javascript:, file:) or
# with spaces, quotes or angle brackets is refused. The vault checks it again on accept.
_ADDRESS = re.compile(r"^(?:https?://)?[A-Za-z0-9\[][^\s<>\"'`\\]*$", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?!\d)")


class IntakeLinkGone(KeyholdError):
    """Unknown, expired, revoked or already used: deliberately indistinguishable."""

    status = 410

    def __init__(self) -> None:
        super().__init__(GONE_MESSAGE)


@dataclass(frozen=True)
class RequestedSystem:
    """One system on the contact's page: what the MSP asked for, nothing else."""

    id: str
    system_name: str
    credential_type_label: str
    username_hint: str
    note: str


@dataclass(frozen=True)
class IntakeLinkPage:
    """What the contact's page may know: their name, the message and the systems asked for."""

    contact_name: str
    message: str
    expires_at: datetime
    systems: tuple[RequestedSystem, ...]


class SubmissionInvalid(InvalidRequest):
    """Values the contact has to look at again; `errors` maps a system's id to its fields'
    messages ("" for the form as a whole), `page` is what to show again."""

    def __init__(self, *, page: IntakeLinkPage, errors: dict[str, dict[str, str]]):
        super().__init__("Some values need another look; see the messages beside them.")
        self.page = page
        self.errors = errors


@dataclass
class _Entry:
    request: IntakeLinkRequest
    username: str = ""
    secret: str = field(default="", repr=False)
    url: str = ""
    notes: str = field(default="", repr=False)
    totp: str = field(default="", repr=False)
    mfa_on_path: str = Credential.MfaOnPath.UNKNOWN


def intake_token_hash(*, token: str) -> str:
    """The stored form of a link token (also what the contact's session keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _link_target(link: IntakeLink) -> Target:
    return Target(
        type="intake.intakelink", id=str(link.pk), label=f"Intake link for {link.contact_name}"
    )


def _staged_target(staged: StagedCredential) -> Target:
    label = f"{staged.system_name} ({staged.username})" if staged.username else staged.system_name
    return Target(type="intake.stagedcredential", id=str(staged.pk), label=label[:254])


def _text(value: object, *, field_name: str, what: str, limit: int, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise FieldInvalid(field_name, f"Enter {what}.")
    if len(text) > limit:
        raise FieldInvalid(
            field_name, f"{what[0].upper()}{what[1:]} is at most {limit} characters."
        )
    return text


def _hours(value: object) -> int:
    message = f"The link is valid for a whole number of hours from 1 to {EXPIRY_HOURS_MAX}."
    try:
        hours = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise FieldInvalid("expires_in_hours", message) from None
    if not 1 <= hours <= EXPIRY_HOURS_MAX:
        raise FieldInvalid("expires_in_hours", message)
    return hours


def _requests_clean(requests: list[dict]) -> list[dict]:
    rows = [row for row in requests if str(row.get("system_name") or "").strip()]
    if not rows:
        raise FieldInvalid("systems", "List at least one system whose credential you need.")
    if len(rows) > SYSTEMS_MAX:
        raise FieldInvalid("systems", f"One link asks for at most {SYSTEMS_MAX} systems.")
    cleaned = []
    for row in rows:
        credential_type = str(row.get("credential_type") or "")
        if credential_type and credential_type not in CredentialType.values:
            raise FieldInvalid("systems", f"{credential_type!r} is not a known credential type.")
        cleaned.append(
            {
                "system_name": _text(
                    row.get("system_name"),
                    field_name="systems",
                    what="a system name",
                    limit=SYSTEM_NAME_MAX,
                ),
                "credential_type": credential_type,
                "username_hint": _text(
                    row.get("username_hint"),
                    field_name="systems",
                    what="a username hint",
                    limit=USERNAME_HINT_MAX,
                ),
                "note": _text(row.get("note"), field_name="systems", what="a note", limit=NOTE_MAX),
            }
        )
    return cleaned


@sensitive_variables("token")
def intake_link_create(
    *,
    actor: User,
    client: Client,
    contact_name: str,
    requests: list[dict],
    contact_email: str = "",
    message: str = "",
    expires_in_hours: int = EXPIRY_HOURS_DEFAULT,
) -> tuple[IntakeLink, str]:
    """A one-time link for a client contact to send the listed systems' credentials (manage).

    `requests` holds {system_name, credential_type, username_hint, note} per system; rows
    without a system name are skipped. Returns the link and its token: the token is shown to
    the creator once and never stored.
    """
    attempt = Attempt(actor=actor, action="intake_link.created", client=client)
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        contact_name = _text(
            contact_name,
            field_name="contact_name",
            what="the contact's name",
            limit=CONTACT_NAME_MAX,
            required=True,
        )
        contact_email = str(contact_email or "").strip()
        if contact_email:
            try:
                validate_email(contact_email)
            except ValidationError:
                raise FieldInvalid(
                    "contact_email", "Enter the contact's email address, or leave it empty."
                ) from None
        message = _text(
            message, field_name="message", what="the message", limit=MESSAGE_MAX
        ).replace("\r\n", "\n")
        hours = _hours(expires_in_hours)
        rows = _requests_clean(requests)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = timezone.now()
        with transaction.atomic():
            link = IntakeLink.objects.create(
                client=client,
                token_hash=intake_token_hash(token=token),
                contact_name=contact_name,
                contact_email=contact_email,
                message=message,
                created_at=now,
                created_by=actor,
                expires_at=now + timedelta(hours=hours),
            )
            IntakeLinkRequest.objects.bulk_create(
                IntakeLinkRequest(link=link, position=position, **row)
                for position, row in enumerate(rows)
            )
            record(
                actor=actor,
                action="intake_link.created",
                client=client,
                target=_link_target(link),
                details={
                    "intake_link": str(link.pk),
                    "contact": contact_name,
                    "systems": len(rows),
                    "expires_in_hours": hours,
                },
            )
    return link, token


def intake_link_revoke(*, actor: User, link: IntakeLink) -> IntakeLink:
    """End a link before the contact used it (manage level on the client)."""
    client = link.client
    details = {"intake_link": str(link.pk)}
    attempt = Attempt(
        actor=actor,
        action="intake_link.revoked",
        client=client,
        target=_link_target(link),
        details=details,
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        with transaction.atomic():
            current = (
                IntakeLink.objects.select_for_update()
                .filter(pk=link.pk, client_id=client.pk)
                .first()
            )
            if current is None:
                raise NotFound()
            if (
                current.revoked_at is not None
                or current.submitted_at is not None
                or current.expires_at <= timezone.now()
            ):
                raise InvalidRequest("This link can no longer be used; there is nothing to revoke.")
            current.revoked_at = timezone.now()
            current.revoked_by = actor
            current.save(update_fields=["revoked_at", "revoked_by"])
            record(
                actor=actor,
                action="intake_link.revoked",
                client=client,
                target=_link_target(current),
                details=details,
            )
    return current


# --- The contact's side ----------------------------------------------------------------------


def _link_by_hash(token_hash: str) -> IntakeLink | None:
    if not token_hash:
        return None
    return (
        IntakeLink.objects.select_related("client", "created_by")
        .filter(token_hash=token_hash)
        .first()
    )


def _refusal(link: IntakeLink, now: datetime) -> str:
    """Why the link cannot be used now, or "" when it can."""
    if link.revoked_at is not None:
        return "revoked"
    if link.submitted_at is not None:
        return "submitted"
    if link.expires_at <= now:
        return "expired"
    if link.client.status == Client.Status.OFFBOARDED:
        return "client_offboarded"
    if link.created_by is None or not (
        Client.objects.for_user(link.created_by, AccessLevel.MANAGE)
        .filter(pk=link.client_id)
        .exists()
    ):
        return "creator_lost_access"
    return ""


def _refuse(link: IntakeLink | None, *, actor: User | None, action: str, reason: str) -> None:
    """Record a refused hit: the link's id when there is a link, never the token."""
    details: dict = {"state": reason}
    if link is not None:
        details["intake_link"] = str(link.pk)
    with transaction.atomic():
        record(
            actor=actor,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=LINK_HOLDER,
            action=action,
            outcome=Outcome.DENIED,
            client=link.client if link is not None else None,
            target=_link_target(link) if link is not None else None,
            reason=reason,
            details=details,
        )


def _usable_link(*, actor: User | None, token_hash: str, action: str) -> IntakeLink:
    """The link if it can be used now; otherwise the refusal is recorded and IntakeLinkGone."""
    link = _link_by_hash(token_hash)
    reason = "unknown" if link is None else _refusal(link, timezone.now())
    if link is None or reason:
        _refuse(link, actor=actor, action=action, reason=reason)
        raise IntakeLinkGone()
    return link


def _page(link: IntakeLink, requests: list[IntakeLinkRequest]) -> IntakeLinkPage:
    labels = dict(CredentialType.choices)
    return IntakeLinkPage(
        contact_name=link.contact_name,
        message=link.message,
        expires_at=link.expires_at,
        systems=tuple(
            RequestedSystem(
                id=str(request.pk),
                system_name=request.system_name,
                credential_type_label=labels.get(request.credential_type, ""),
                username_hint=request.username_hint,
                note=request.note,
            )
            for request in requests
        ),
    )


def intake_link_open(*, actor: User | None, token_hash: str) -> IntakeLinkPage:
    """The contact's page: consumes nothing, audited; IntakeLinkGone when it cannot be used."""
    link = _usable_link(actor=actor, token_hash=token_hash, action="intake_link.opened")
    requests = list(link.requests.all())
    with transaction.atomic():
        record(
            actor=actor,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=LINK_HOLDER,
            action="intake_link.opened",
            client=link.client,
            target=_link_target(link),
            details={"intake_link": str(link.pk)},
        )
    return _page(link, requests)


def intake_link_rate_limited(*, actor: User | None, token_hash: str, scope: str) -> None:
    """Record that the contact's pages refused a burst of requests (per address or per link)."""
    link = _link_by_hash(token_hash)
    details: dict = {"scope": scope}
    if link is not None:
        details["intake_link"] = str(link.pk)
    with transaction.atomic():
        record(
            actor=actor,
            actor_kind=ActorKind.ANONYMOUS,
            actor_label=LINK_HOLDER,
            action="intake_link.rate_limited",
            outcome=Outcome.DENIED,
            client=link.client if link is not None else None,
            target=_link_target(link) if link is not None else None,
            reason=f"too many requests per {scope}",
            details=details,
        )


@sensitive_variables("values", "entry", "given")
def _entries_clean(
    link: IntakeLink, requests: list[IntakeLinkRequest], values: dict[str, dict[str, str]]
) -> list[_Entry]:
    """The systems the contact filled in; SubmissionInvalid with every problem at once."""
    entries: list[_Entry] = []
    errors: dict[str, dict[str, str]] = {}
    for request in requests:
        given = values.get(str(request.pk)) or {}
        entry = _Entry(
            request=request,
            username=str(given.get("username") or "").strip(),
            secret=str(given.get("secret") or ""),
            url=str(given.get("url") or "").strip(),
            notes=str(given.get("notes") or "").strip().replace("\r\n", "\n"),
            totp=str(given.get("totp") or "").strip(),
            mfa_on_path=str(given.get("mfa_on_path") or Credential.MfaOnPath.UNKNOWN),
        )
        problems: dict[str, str] = {}
        typed = [entry.username, entry.secret, entry.url, entry.notes, entry.totp]
        if not any(typed):
            continue
        for name, limit in VALUE_LIMITS.items():
            if len(getattr(entry, name)) > limit:
                problems[name] = f"This is at most {limit} characters."
        if not entry.secret:
            problems["secret"] = (
                f"Enter the password for {request.system_name}, or clear this system's "
                "fields to leave it out."
            )
        if entry.url and (
            not _ADDRESS.match(entry.url)
            or (_SCHEME.match(entry.url) and not entry.url.lower().startswith(("http:", "https:")))
        ):
            problems["url"] = (
                "Enter a web address starting with https:// or a host name such as "
                "portal.example.com."
            )
        if entry.mfa_on_path not in Credential.MfaOnPath.values:
            problems["mfa_on_path"] = "Choose yes, no or I don't know."
        if problems:
            errors[str(request.pk)] = problems
        entries.append(entry)
    if not entries and not errors:
        errors[""] = {"": "Fill in the password of at least one system, then send."}
    if errors:
        raise SubmissionInvalid(page=_page(link, requests), errors=errors)
    return entries


def _creator_alert(link: IntakeLink, count: int, client_ip: str | None) -> None:
    creator = link.created_by
    if creator is None or not creator.is_active:
        return
    client = link.client
    what = "1 credential" if count == 1 else f"{count} credentials"
    origin = f" from address {client_ip}" if client_ip else ""
    alert_send(
        actor=None,
        topic="intake_link.submitted",
        recipients=[creator],
        subject=f"{client.name}: {link.contact_name} sent {what} through an intake link",
        body=(
            f"{link.contact_name} sent {what} for {client.name} through the intake link you "
            f"created{origin}. The values are encrypted and wait for review: accept each one "
            "into the vault or reject it.\n"
        ),
        link=reverse("intake:link_detail", args=[client.slug, link.pk]),
    )


@sensitive_variables("values", "entries", "entry")
def intake_link_submit(
    *,
    actor: User | None,
    token_hash: str,
    values: dict[str, dict[str, str]],
    client_ip: str | None,
) -> list[StagedCredential]:
    """Stage what the contact typed, each value sealed on arrival; the link's one submission.

    `values` maps a requested system's id to {username, secret, url, notes, totp,
    mfa_on_path}; systems left empty are skipped. One conditional UPDATE decides the single
    submission however many arrive at once. IntakeLinkGone when the link cannot be used,
    SubmissionInvalid when the values need another look (nothing is used up then).
    """
    link = _usable_link(actor=actor, token_hash=token_hash, action="intake_link.submitted")
    requests = list(link.requests.all())
    entries = _entries_clean(link, requests, values)
    client = link.client
    target = _link_target(link)
    attempt = Attempt(
        actor=actor,
        action="intake_link.submitted",
        client=client,
        target=target,
        details={"intake_link": str(link.pk)},
        actor_kind=ActorKind.ANONYMOUS,
        actor_label=LINK_HOLDER,
    )
    now = timezone.now()
    staged: list[StagedCredential] = []
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
        transaction.atomic(),
    ):
        won = IntakeLink.objects.filter(
            pk=link.pk,
            submitted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(submitted_at=now)
        if won:
            for entry in entries:
                staged_id = uuid.uuid4()

                def seal(name: str, text: str, staged_id: uuid.UUID = staged_id) -> bytes:
                    return field_encrypt(
                        client=client,
                        record_type=STAGED_CREDENTIAL_RECORD_TYPE,
                        record_id=str(staged_id),
                        field=name,
                        plaintext=text.encode("utf-8"),
                    )

                staged.append(
                    StagedCredential(
                        id=staged_id,
                        link=link,
                        request=entry.request,
                        client=client,
                        system_name=entry.request.system_name,
                        username=entry.username,
                        url=entry.url,
                        mfa_on_path=entry.mfa_on_path,
                        secret=seal("secret", entry.secret),
                        notes=seal("notes", entry.notes) if entry.notes else None,
                        totp_seed=seal("totp_seed", entry.totp) if entry.totp else None,
                        submitted_at=now,
                    )
                )
            StagedCredential.objects.bulk_create(staged)
            _creator_alert(link, len(staged), client_ip)
            record(
                actor=actor,
                actor_kind=ActorKind.ANONYMOUS,
                actor_label=LINK_HOLDER,
                action="intake_link.submitted",
                client=client,
                target=target,
                details={"intake_link": str(link.pk), "count": len(staged)},
            )
    if not won:
        # Another request sent the link (or it ended) since it was read above.
        link.refresh_from_db(fields=["submitted_at", "revoked_at", "expires_at"])
        _refuse(
            link,
            actor=actor,
            action="intake_link.submitted",
            reason=_refusal(link, now) or "submitted",
        )
        raise IntakeLinkGone()
    return staged


# --- Review by onboarding staff ----------------------------------------------------------------


def _pending_for_update(staged: StagedCredential) -> StagedCredential:
    current = (
        StagedCredential.objects.select_for_update()
        .filter(pk=staged.pk, client_id=staged.client_id)
        .first()
    )
    if current is None:
        raise NotFound()
    if current.status != StagedCredential.Status.PENDING:
        raise InvalidRequest(
            f"This entry was already {current.get_status_display().lower()}; "
            "reload the page to see it."
        )
    return current


def _wipe(staged: StagedCredential) -> None:
    staged.secret = b""
    staged.notes = None
    staged.totp_seed = None


@sensitive_variables("secret", "notes", "totp_seed")
def staged_credential_accept(
    *,
    actor: User,
    staged: StagedCredential,
    credential_type: str,
    name: str = "",
    system: System | None = None,
    host: str | None = None,
) -> Credential:
    """Move a client's staged credential into the vault (manage level), audited.

    The credential's source is "client_link" and its status active: the link is a secure
    channel. `name` defaults to the system's name and `host` to the address the contact gave.
    The staged copy of the values is wiped; the vault holds them now.
    """
    client = staged.client
    target = _staged_target(staged)
    attempt = Attempt(
        actor=actor,
        action="staged_credential.accepted",
        client=client,
        target=target,
        details={"intake_link": str(staged.link_id)},
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        with transaction.atomic():
            current = _pending_for_update(staged)

            def opened(name: str, sealed: bytes | None) -> str:
                if not sealed:
                    return ""
                return field_decrypt(
                    client=client,
                    record_type=STAGED_CREDENTIAL_RECORD_TYPE,
                    record_id=str(current.pk),
                    field=name,
                    sealed=sealed,
                ).decode("utf-8")

            secret = opened("secret", current.secret)
            notes = opened("notes", current.notes)
            totp_seed = opened("totp_seed", current.totp_seed)
            credential = credential_create(
                actor=actor,
                client=client,
                name=(name or "").strip() or current.system_name,
                credential_type=credential_type,
                secret=secret,
                username=current.username,
                system=system,
                host=current.url if host is None else host,
                notes=notes,
                totp_seed=totp_seed,
                mfa_on_path=current.mfa_on_path or Credential.MfaOnPath.UNKNOWN,
                source=Credential.Source.CLIENT_LINK,
                status=Credential.Status.ACTIVE,
            )
            current.status = StagedCredential.Status.ACCEPTED
            current.reviewed_at = timezone.now()
            current.reviewed_by = actor
            current.credential = credential
            _wipe(current)
            current.save(
                update_fields=[
                    "status",
                    "reviewed_at",
                    "reviewed_by",
                    "credential",
                    "secret",
                    "notes",
                    "totp_seed",
                ]
            )
            record(
                actor=actor,
                action="staged_credential.accepted",
                client=client,
                target=target,
                details={
                    "intake_link": str(current.link_id),
                    "accepted_as": str(credential.pk),
                    "type": str(credential_type),
                },
            )
    return credential


def staged_credential_reject(
    *, actor: User, staged: StagedCredential, reason: str
) -> StagedCredential:
    """Refuse a client's staged credential with a reason (manage level); its values are wiped
    and the row is kept as the record of what arrived."""
    client = staged.client
    target = _staged_target(staged)
    attempt = Attempt(
        actor=actor,
        action="staged_credential.rejected",
        client=client,
        target=target,
        details={"intake_link": str(staged.link_id)},
    )
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        reason = _text(
            reason,
            field_name="reason",
            what="why the entry is rejected",
            limit=REJECT_REASON_MAX,
            required=True,
        )
        with transaction.atomic():
            current = _pending_for_update(staged)
            current.status = StagedCredential.Status.REJECTED
            current.reject_reason = reason
            current.reviewed_at = timezone.now()
            current.reviewed_by = actor
            _wipe(current)
            current.save(
                update_fields=[
                    "status",
                    "reject_reason",
                    "reviewed_at",
                    "reviewed_by",
                    "secret",
                    "notes",
                    "totp_seed",
                ]
            )
            record(
                actor=actor,
                action="staged_credential.rejected",
                client=client,
                target=target,
                reason=reason,
                details={"intake_link": str(current.link_id)},
            )
    return current
