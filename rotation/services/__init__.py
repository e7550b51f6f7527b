"""Rotation services: one module per area (policies, tasks, PSA tickets, connectors)."""
