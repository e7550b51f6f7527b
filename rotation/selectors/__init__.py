"""Rotation reads: one module per area (policies, tasks, PSA tickets), scoped to the actor."""
