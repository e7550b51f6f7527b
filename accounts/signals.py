"""Signals of the accounts app, for apps that depend on it (accounts imports none of them)."""

from django.dispatch import Signal

# Sent after the transaction that deactivated a staff member commits (user_deactivate, or a
# departure through user_depart). The API app connects to it to revoke the person's API
# tokens; its authentication refuses an inactive user's tokens in any case, so a receiver
# that fails leaves no way in. Arguments: user_id.
staff_departed = Signal()
