"""Signals of the tenants app, for apps that depend on it (tenants imports none of them)."""

from django.dispatch import Signal

# Sent inside the transaction of assignment_grant / assignment_revoke when a person's access
# to a client goes down (`level` is the new AccessLevel, or None when revoked). Receivers
# write in that same transaction, so their work commits or rolls back with the change.
# Arguments: actor, client, user, level.
client_access_lowered = Signal()
