"""Tests never pass by construction: every test function asserts something."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Helpers that assert on behalf of the test calling them.
ASSERTING_HELPERS = ("verify_fails_at(",)


def test_every_test_function_asserts():
    silent = []
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                source = ast.unparse(node)
                asserts = (
                    "assert" in source
                    or "raises(" in source
                    or "expect(" in source
                    or any(helper in source for helper in ASSERTING_HELPERS)
                )
                if not asserts:
                    silent.append(f"{path.relative_to(ROOT)}::{node.name}")
    assert silent == []
