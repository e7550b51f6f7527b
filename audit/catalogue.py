"""Every audit action Keyhold records: a dotted name (entity, past tense) and what it means.

audit.record() refuses names that are not here, so the catalogue is complete by
construction; docs/audit-catalogue.md is generated from it (tests keep the two equal).
Each issue adds its own actions.
"""

ACTIONS: dict[str, str] = {
    # Sign-in and sessions (accounts)
    "staff.signed_in": "A staff member signed in with their password (MFA follows).",
    "staff.signed_out": "A staff member signed out.",
    "staff.sign_in_failed": "A sign-in failed: wrong email or password, or inactive account.",
    "staff.locked_out": "Ten failed sign-ins locked an email and address pair.",
    "mfa.verified": "A session passed MFA (authenticator app or backup code).",
    "mfa.verification_failed": "A wrong, replayed or throttled MFA code was refused.",
    "mfa.enrolled": "A staff member enrolled an authenticator app and got backup codes.",
    "mfa.backup_codes_regenerated": "A staff member replaced their backup codes.",
    "mfa.reset": "An administrator removed a staff member's MFA devices.",
    # Staff administration (accounts)
    "invitation.created": "An administrator invited a staff member.",
    "invitation.revoked": "An administrator revoked an open invitation.",
    "invitation.accepted": "An invitee chose a password and created their account.",
    "staff.created": "A staff account was created directly (demo data only).",
    "staff.roles_changed": "An administrator changed a staff member's roles.",
    "staff.deactivated": (
        "A staff member's login was disabled and every session ended: by an administrator, or "
        "by a manager or administrator confirming their departure (details.departure)."
    ),
    "staff.break_glass_changed": (
        "An administrator let a staff member open sealed emergency credentials, or stopped them."
    ),
    # Clients and client access (tenants)
    "client.created": "A client was added.",
    "system.created": "A system was added to a client's inventory.",
    "assignment.granted": "A staff member was given access to a client at a level.",
    "assignment.revoked": "A staff member's access to a client was revoked.",
    "client.primary_technician_set": (
        "A manager chose (or cleared) the client's primary technician, who owns its rotation tasks."
    ),
    "client.status_changed": (
        "A client's status changed (onboarding, active, offboarding, offboarded)."
    ),
    # Credentials
    "credential.created": "A credential was added to a client; its secret is sealed.",
    "credential.updated": (
        "A credential was changed (the names of the changed fields are kept, never values); "
        "a new secret keeps the old one as a version."
    ),
    "credential.archived": "A credential was archived with a reason.",
    # Credential access (emitted by the vault; the reviews read them)
    "credential.revealed": "A credential's secret was revealed.",
    "credential.checked_out": "A high-privilege credential was checked out.",
    "credential.emergency_opened": "A sealed emergency credential was opened.",
    # Checkouts and client vault policy (vault)
    "credential.checkout_requested": (
        "A technician asked to check out a high-privilege credential against a ticket "
        "(refusals, such as a lease held by someone else, are recorded as denied)."
    ),
    "credential.checkout_approved": "A manager approved a checkout request; the lease started.",
    "credential.checkout_denied": "A manager denied a checkout request.",
    "credential.checkout_cancelled": "A technician withdrew their pending checkout request.",
    "credential.checked_in": "The holder returned a checkout; the credential is due for rotation.",
    "credential.checkout_expired": (
        "A checkout reached its end time; the credential is due for rotation."
    ),
    "credential.checkout_revoked": (
        "A manager ended someone's checkout early; the credential is due for rotation."
    ),
    "client.vault_policy_updated": (
        "A client's vault policy changed (ticket on reveal, checkout approval, durations)."
    ),
    # Sealed emergency credentials (vault)
    "credential.emergency_resealed": (
        "A manager re-sealed an emergency credential whose secret was changed after its seal "
        "was broken."
    ),
    # One-time share links (vault)
    "share_link.created": (
        "A staff member created a one-time link to a credential's secret for a client contact "
        "(recipient, expiry, views and whether a passphrase is needed; never the token)."
    ),
    "share_link.revoked": "A share link was revoked before it was used up; its payload wiped.",
    "share_link.opened": (
        "A share link's page was opened (nothing consumed); denied when the link was used, "
        "expired, revoked or blocked, which alerts its creator."
    ),
    "share_link.revealed": (
        "A client contact revealed a share link's secret (one view); denied for a dead link "
        "(creator alerted) or a wrong passphrase (the fifth blocks the link)."
    ),
    "share_link.expired": "The purge job wiped the payload of an expired share link.",
    # Client intake links (intake)
    "intake_link.created": (
        "Onboarding staff created a one-time intake link for a client contact (contact, number "
        "of systems asked for, expiry; never the token)."
    ),
    "intake_link.revoked": "An intake link was revoked before the contact used it.",
    "intake_link.opened": (
        "A client contact opened an intake link's page (nothing consumed); denied for an "
        "unknown, expired, revoked or already used link (its id when known, never the token)."
    ),
    "intake_link.submitted": (
        "A client contact sent credentials through an intake link, each value sealed on "
        "arrival (link and count, never values); denied when the link could not be used."
    ),
    "intake_link.rate_limited": (
        "The intake link pages refused a burst of requests from one address or for one link "
        "(the first refusal of each window)."
    ),
    "staged_credential.accepted": (
        "Onboarding staff accepted a credential a client sent through an intake link into the "
        "vault; its staged copy was wiped."
    ),
    "staged_credential.rejected": (
        "Onboarding staff rejected a credential a client sent through an intake link, with a "
        "reason; its sealed values were wiped and the entry kept as the record."
    ),
    # Secret history and TOTP codes (vault)
    "credential.history_viewed": (
        "A manager opened a credential's secret history (versions as metadata, no values)."
    ),
    "credential.version_revealed": "A previous secret of a credential was revealed.",
    "credential.totp_code_shown": (
        "The current TOTP code of a credential's seed was shown (each request, one per "
        "30-second window while it stays shown); the seed never leaves Keyhold."
    ),
    # The audit log itself
    "audit.verified": "The audit chain was verified (nightly job or audit_verify).",
    "audit.checkpoint_written": "The chain head was written outside the database.",
    "audit.exported": "Audit events were exported.",
    "review.signed_off": "A manager signed off a monthly access review.",
    "hygiene_audit.signed_off": "A manager signed off a quarterly hygiene audit.",
    # Vault keys
    "vault.kek_rotated": "Every client data key was rewrapped under the current KEK version.",
    "vault.client_key_rotation_started": "A client got a new data key; re-encryption began.",
    "vault.client_key_rotated": "A client's values were re-encrypted; its old data key destroyed.",
    "vault.client_shredded": (
        "Every data key of a client was destroyed (an administrator, or the retention job of an "
        "offboarded client): its secrets are unreadable for good, its audit trail stays."
    ),
    "vault.decryption_failed": (
        "A secret could not be decrypted or encrypted (tampered value, missing or destroyed "
        "key, key provider unreachable); nothing was revealed or changed."
    ),
    # Rotation
    "rotation.policy_updated": (
        "A manager changed a client's rotation intervals (next due dates were recomputed) or "
        "its rules for new passwords (length, symbols, excluded characters; field names only)."
    ),
    "rotation.task_created": "A rotation task was opened for a credential, with its reason.",
    "rotation.task_reason_added": (
        "A new reason joined a credential's open rotation task (its due time can only move "
        "earlier)."
    ),
    "rotation.task_completed": (
        "A rotation task was completed with a new secret (old and new version numbers, "
        "never values)."
    ),
    "rotation.task_cancelled": "A manager cancelled a rotation task with a reason.",
    "rotation.reminder_sent": "The owner of a rotation task due soon was reminded (once).",
    "rotation.task_escalated": "An overdue rotation task was escalated to the client's managers.",
    # Automated rotation
    "rotation.automated_attempted": (
        "Keyhold changed a credential's password on its target (PostgreSQL role, ...) and "
        "promoted it, or a step failed with the reason (attempt id and step; never values)."
    ),
    "rotation.target_saved": (
        "A manager set up or changed a credential's automated rotation target (connector, "
        "privileged credential, names of the fields changed; never a secret)."
    ),
    "rotation.target_removed": "A manager removed a credential's automated rotation target.",
    "rotation.target_checked": (
        "A manager tested a rotation target's connection with its privileged account, "
        "changing nothing: ok, or the reason it failed."
    ),
    # PSA
    "psa.connection_saved": (
        "An administrator created or changed the PSA connection (kind, address, names of the "
        "settings and of the secret fields changed; never a secret)."
    ),
    "psa.ticket_opened": "A rotation task's ticket was opened in the PSA (its ticket id kept).",
    "psa.ticket_updated": "A note was added to a rotation task's PSA ticket.",
    "psa.ticket_closed": "A rotation task's PSA ticket was closed.",
    "psa.call_failed": (
        "A call to the PSA failed and will be retried with backoff; the task is not affected."
    ),
    "psa.ticket_closed_by_psa": (
        "The PSA said a rotation task's ticket was closed; denied when the callback's address "
        "token or signature was wrong."
    ),
    # Structured intake and takeover (intake)
    "intake.started": "The structured intake of a client was started (its draft created).",
    "intake.entry_saved": (
        "An intake draft entry was added or changed (the names of the changed fields are kept; "
        "its secret, notes and TOTP seed are sealed, never recorded)."
    ),
    "intake.entry_removed": "An entry was removed from a client's intake draft.",
    "intake.submitted": (
        "An intake was submitted: its systems, credentials, staff access and rotation tasks "
        "were created in one go (counts kept)."
    ),
    "intake.access_granted": (
        "A manager granted the staff access that a client's submitted intakes asked for."
    ),
    "intake.takeover_started": "The takeover checklist of a client was started (its steps).",
    "intake.takeover_finding_saved": "The finding of a takeover step was written or changed.",
    "intake.takeover_step_completed": "A takeover step was marked done.",
    "intake.takeover_step_reopened": "A done takeover step was reopened.",
    # Inherited-credential imports (intake; bulk paths in vault and rotation)
    "intake.import_previewed": (
        "A previous provider's export was parsed into a sealed preview (format, file name and "
        "row, error and duplicate counts; never values)."
    ),
    "intake.import_rows_excluded": "Rows of an import preview were excluded or included again.",
    "intake.import_confirmed": "An import finished: its valid, non-excluded rows are credentials.",
    "intake.import_cancelled": "An import preview was cancelled; its sealed rows were deleted.",
    "credential.imported": (
        "A chunk of an import became inherited, compromised credentials (one event per chunk "
        "of up to 1,000, listing their ids)."
    ),
    "rotation.tasks_created": (
        "Rotation tasks were opened in bulk (an import), one event listing the tasks, their "
        "credentials, the reason and the due times."
    ),
    # Technician departures (offboarding)
    "offboarding.departure_opened": (
        "A manager or administrator opened a departure case for a staff member (nothing changed "
        "yet: the case waits for confirmation)."
    ),
    "offboarding.departure_confirmed": (
        "A departure was confirmed: login disabled, sessions ended, checkouts ended, every "
        "assignment revoked, and rotation tasks opened for the credentials the person could "
        "reveal or did reveal (counts of each)."
    ),
    "offboarding.departure_closed": (
        "A departure case was closed: every rotation task done or cancelled, or a manager "
        "accepted the remaining risk with a written reason."
    ),
    # Client offboarding (offboarding)
    "offboarding.client_exit_opened": (
        "A manager opened the offboarding case of a client that is leaving (with its reason)."
    ),
    "offboarding.credential_decided": (
        "Credentials of a leaving client were marked to be handed over to the client as they are, "
        "or to be rotated first (a rotation task opened); ids and decision, never values."
    ),
    "offboarding.handover_exported": (
        "The handover file of a leaving client was created: a KeePass file protected by a "
        "passphrase shown once and never stored (the count of credentials, never values)."
    ),
    "offboarding.client_exit_confirmed": (
        "A client's offboarding was confirmed: every staff access revoked, the client set to "
        "offboarded, and the date its keys are crypto-shredded set."
    ),
    # Offboarding evidence (offboarding)
    "offboarding.evidence_exported": (
        "The evidence log of an offboarding case was exported as CSV (rows exported and rows "
        "hidden from the exporter by client scope); denied when the case is not theirs to see."
    ),
    # API tokens (integrations)
    "api_token.created": (
        "An administrator created an API token (name, prefix, scopes, how many clients and "
        "networks it is limited to, expiry; never the token)."
    ),
    "api_token.revoked": (
        "An API token was revoked: by an administrator, or by the system when its creator left "
        "or was deactivated (one event with the count and prefixes)."
    ),
    "api_token.refused": (
        "An API request's token was refused (code: unknown, revoked, expired, inactive_creator "
        "or address; the prefix when the token is known, never the token). address_limited "
        "marks the last one recorded before that address is refused without events."
    ),
    "api_token.scope_refused": (
        "An API token was turned away from an endpoint for lacking its scope (scope, method, "
        "path); a reveal without credentials:reveal is one of these."
    ),
    # Outbound webhooks (integrations)
    "webhook.subscription_created": (
        "An administrator subscribed a receiver to events (address, event types, how many "
        "clients it is limited to; never its signing secret)."
    ),
    "webhook.subscription_updated": (
        "An administrator changed a webhook subscription and became its owner, whose clients "
        "it reaches (names of the fields changed)."
    ),
    "webhook.subscription_deleted": (
        "An administrator deleted a webhook subscription and its delivery log."
    ),
    "webhook.secret_rotated": (
        "An administrator replaced a webhook subscription's signing secret (never the secret)."
    ),
    "webhook.test_sent": "An administrator sent a test event to a webhook receiver.",
    "webhook.delivery_retried": "An administrator sent a failed webhook delivery once more.",
    "webhook.delivery_failed": (
        "A webhook delivery failed for good after its retries (the last status code or error)."
    ),
    "api.rate_limited": (
        "A token or a person went over an API rate limit (limit, rate); recorded once per "
        "window, and administrators are alerted."
    ),
}

# Actions that open a credential: the monthly review examines these.
CREDENTIAL_ACCESS_ACTIONS = frozenset(
    {
        "credential.revealed",
        "credential.checked_out",
        "credential.emergency_opened",
        "credential.version_revealed",
        "credential.totp_code_shown",
    }
)
