"""Test-only database backends: flushing between transactional tests gets past the audit
table's append-only triggers, the way only a database superuser or file owner could."""
