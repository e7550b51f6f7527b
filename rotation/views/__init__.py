"""Rotation pages: one module per area (tasks, policies, PSA tickets)."""
