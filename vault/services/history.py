"""A credential's secret history (manage level) and its live TOTP code (use level).

Each function is one transaction whose audit event is its last write; a value is returned
only once that transaction committed. Denied attempts and decryption failures leave their
events through recording_failures and recording_decryption_failures, as reveal does.
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django_otp.oath import TOTP

from accounts.models import User
from audit.services import Attempt, Target, record, recording_failures
from config.errors import AccessDenied, InvalidRequest, NotFound
from tenants.models import AccessLevel, Client
from tenants.selectors import client_get_for_user
from vault.envelope import field_decrypt, recording_decryption_failures
from vault.models import (
    CREDENTIAL_RECORD_TYPE,
    CREDENTIAL_VERSION_RECORD_TYPE,
    Checkout,
    Credential,
    CredentialSecretVersion,
    PrivilegeTier,
)
from vault.selectors.history import credential_version_list
from vault.services.credentials import (
    EMERGENCY_REFUSAL,
    TICKET_MAX,
    reveal_ticket_required,
)

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
# RFC 4226 asks for 128 bits; 80-bit seeds (16 base32 characters) are still common.
TOTP_MIN_KEY_BYTES = 10
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
HIGH_TIER_HISTORY_REFUSAL = (
    "Old secrets of a high-privilege credential are revealed only to the holder of an active "
    "checkout. Check it out against your ticket first."
)
HIGH_TIER_TOTP_REFUSAL = (
    "The TOTP code of a high-privilege credential is shown only to the holder of an active "
    "checkout. Check it out against your ticket first."
)
SEED_UNUSABLE = (
    "The stored TOTP seed is not a base32 key Keyhold can use. Ask a manager to edit the "
    "credential and paste the seed again (the letters and digits the service showed)."
)


def _credential_target(credential: Credential) -> Target:
    return Target(type="vault.credential", id=str(credential.pk), label=credential.name[:254])


def _current(credential: Credential, client: Client, *fields: str) -> Credential:
    current = (
        Credential.objects.filter(pk=credential.pk, client_id=client.pk)
        .only("id", "client_id", "name", "status", "privilege_tier", "is_emergency", *fields)
        .first()
    )
    if current is None:
        raise NotFound()
    return current


def _lease_check(
    *, actor: User, client: Client, scoped: Client, credential: Credential, refusal: str
) -> Checkout:
    """The actor's lease on a high-privilege credential, active now; the same rule as reveal."""
    now = timezone.now()
    lease = (
        Checkout.objects.filter(
            credential_id=credential.pk,
            requested_by=actor,
            status=Checkout.Status.ACTIVE,
            starts_at__lte=now,
            expires_at__gt=now,
        )
        .only("id", "ticket")
        .first()
    )
    if lease is None:
        raise AccessDenied(refusal)
    if scoped.my_level < AccessLevel.PRIVILEGED:
        raise AccessDenied(
            f"Your access to {client.name} no longer includes high-privilege credentials. "
            "Ask a manager to change your assignment."
        )
    return lease


def _ticket_clean(ticket: str) -> str:
    ticket = ticket.strip()
    if len(ticket) > TICKET_MAX:
        raise InvalidRequest(f"A ticket reference is at most {TICKET_MAX} characters.")
    return ticket


# --- Secret history ------------------------------------------------------------------------


def credential_history_view(
    *, actor: User, credential: Credential
) -> list[CredentialSecretVersion]:
    """The credential's kept secret versions as metadata (manage level); the view is audited."""
    client = credential.client
    target = _credential_target(credential)
    attempt = Attempt(actor=actor, action="credential.history_viewed", client=client, target=target)
    with recording_failures(attempt):
        client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        with transaction.atomic():
            versions = list(credential_version_list(actor=actor, credential=credential))
            record(
                actor=actor,
                action="credential.history_viewed",
                client=client,
                target=target,
                details={"versions": len(versions)},
            )
    return versions


@sensitive_variables("plaintext")
def credential_version_reveal(
    *, actor: User, credential: Credential, version: CredentialSecretVersion, ticket: str = ""
) -> str:
    """The plaintext of one previous secret of the credential (manage level), audited.

    Refused for archived and sealed emergency credentials; for a high-privilege credential
    only the holder of an active checkout may see old values too.
    """
    client = credential.client
    target = _credential_target(credential)
    ticket = ticket.strip()
    details = {
        "field": "secret",
        "version": version.version,
        "tier": str(credential.privilege_tier),
    }
    attempt = Attempt(
        actor=actor,
        action="credential.version_revealed",
        client=client,
        target=target,
        ticket=ticket[:TICKET_MAX],
        details=details,
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        scoped = client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.MANAGE)
        ticket = _ticket_clean(ticket)
        with transaction.atomic():
            current = _current(credential, client)
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; its secrets are not revealed.")
            if current.is_emergency:
                raise AccessDenied(EMERGENCY_REFUSAL)
            if current.privilege_tier == PrivilegeTier.HIGH:
                lease = _lease_check(
                    actor=actor,
                    client=client,
                    scoped=scoped,
                    credential=current,
                    refusal=HIGH_TIER_HISTORY_REFUSAL,
                )
                details["checkout"] = str(lease.pk)
                ticket = ticket or lease.ticket
            if not ticket and reveal_ticket_required(actor=actor, client=client):
                raise InvalidRequest("Enter the ticket number this reveal is for.")
            kept = (
                CredentialSecretVersion.objects.filter(
                    pk=version.pk, credential_id=current.pk, client_id=client.pk
                )
                .only("id", "version", "secret")
                .first()
            )
            if kept is None:
                raise NotFound()
            plaintext = field_decrypt(
                client=client,
                record_type=CREDENTIAL_VERSION_RECORD_TYPE,
                record_id=str(kept.pk),
                field="secret",
                sealed=kept.secret,
            )
            record(
                actor=actor,
                action="credential.version_revealed",
                client=client,
                target=_credential_target(current),
                ticket=ticket,
                details={**details, "version": kept.version, "tier": str(current.privilege_tier)},
            )
    return plaintext.decode("utf-8")


# --- Live TOTP codes -----------------------------------------------------------------------


@dataclass(frozen=True)
class TotpCode:
    """The current code of a credential's TOTP seed; the seed itself never leaves the service."""

    code: str
    seconds_left: int
    window: int

    def __repr__(self) -> str:
        return f"<TotpCode window={self.window}>"


@sensitive_variables("seed", "text", "bits")
def _totp_key(seed: str) -> bytes:
    """The key bytes of a base32 seed as an authenticator app would read it.

    Accepts spaces, dashes, lower case, missing padding and an otpauth:// URI; trailing
    bits that do not fill a byte are dropped, as authenticator apps do.
    """
    text = seed.strip()
    if text.lower().startswith("otpauth://"):
        text = parse_qs(urlsplit(text).query).get("secret", [""])[0]
    text = re.sub(r"[\s-]", "", text).upper().rstrip("=")
    if not text or any(char not in _BASE32 for char in text):
        raise InvalidRequest(SEED_UNUSABLE)
    bits = "".join(f"{_BASE32.index(char):05b}" for char in text)
    length = len(bits) // 8
    if length < TOTP_MIN_KEY_BYTES:
        raise InvalidRequest(SEED_UNUSABLE)
    return int(bits[: length * 8], 2).to_bytes(length, "big")


@sensitive_variables("seed", "key", "totp")
def credential_totp_code(*, actor: User, credential: Credential, ticket: str = "") -> TotpCode:
    """The current 6-digit code of the credential's TOTP seed (use level), audited each time.

    The same rules as reveal: refused for archived and sealed emergency credentials, and for
    a high-privilege credential shown only to the holder of an active checkout.
    """
    client = credential.client
    target = _credential_target(credential)
    ticket = ticket.strip()
    details = {"field": "totp_seed", "tier": str(credential.privilege_tier)}
    attempt = Attempt(
        actor=actor,
        action="credential.totp_code_shown",
        client=client,
        target=target,
        ticket=ticket[:TICKET_MAX],
        details=details,
    )
    with (
        recording_failures(attempt),
        recording_decryption_failures(actor=actor, client=client, target=target),
    ):
        scoped = client_get_for_user(actor=actor, slug=client.slug, level=AccessLevel.USE)
        ticket = _ticket_clean(ticket)
        with transaction.atomic():
            current = _current(credential, client, "totp_seed")
            if current.status == Credential.Status.ARCHIVED:
                raise InvalidRequest("This credential is archived; its codes are not shown.")
            if current.is_emergency:
                raise AccessDenied(EMERGENCY_REFUSAL)
            if current.privilege_tier == PrivilegeTier.HIGH:
                lease = _lease_check(
                    actor=actor,
                    client=client,
                    scoped=scoped,
                    credential=current,
                    refusal=HIGH_TIER_TOTP_REFUSAL,
                )
                details["checkout"] = str(lease.pk)
                ticket = ticket or lease.ticket
            if current.totp_seed is None:
                raise InvalidRequest("This credential has no TOTP seed.")
            if not ticket and reveal_ticket_required(actor=actor, client=client):
                raise InvalidRequest("Enter the ticket number this code is for.")
            seed = field_decrypt(
                client=client,
                record_type=CREDENTIAL_RECORD_TYPE,
                record_id=str(current.pk),
                field="totp_seed",
                sealed=current.totp_seed,
            ).decode("utf-8")
            key = _totp_key(seed)
            totp = TOTP(key, step=TOTP_STEP_SECONDS, digits=TOTP_DIGITS)
            totp.time = timezone.now().timestamp()
            window = totp.t()
            code = TotpCode(
                code=f"{totp.token():0{TOTP_DIGITS}d}",
                seconds_left=TOTP_STEP_SECONDS - int(totp.time) % TOTP_STEP_SECONDS,
                window=window,
            )
            record(
                actor=actor,
                action="credential.totp_code_shown",
                client=client,
                target=_credential_target(current),
                ticket=ticket,
                details={**details, "window": window, "tier": str(current.privilege_tier)},
            )
    return code
