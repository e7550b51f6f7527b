"""The README's example calls stay true: each names a route, method, query parameters and body
fields that the OpenAPI schema has, and together they cover every resource."""

import json
import re
import shlex
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.integrations.api_world import api_schema

README = Path(__file__).resolve().parents[2] / "README.md"
PLACEHOLDER = re.compile(r"^[A-Z_]+$")


def _example_calls() -> list[tuple[str, str, dict, dict]]:
    """(method, path, query, body) of each curl in the README's API examples."""
    text = README.read_text()
    block = text[text.index("One call per resource") :]
    block = block[block.index("```sh") + 5 : block.index("```", block.index("```sh") + 5)]
    calls = []
    for command in block.replace("\\\n", " ").splitlines():
        words = shlex.split(command, comments=True)
        if not words:
            continue
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        url = next(word for word in words if word.startswith("$K/"))
        body = json.loads(words[words.index("-d") + 1]) if "-d" in words else {}
        parts = urlsplit(url.replace("$K", "https://vault.example/api/v1"))
        calls.append((method.lower(), parts.path, parse_qs(parts.query), body))
    return calls


def _operation(schema: dict, method: str, path: str) -> dict | None:
    for template, operations in schema["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method in operations:
            return operations[method]
    return None


def _request_fields(schema: dict, operation: dict) -> set[str]:
    content = operation.get("requestBody", {}).get("content", {})
    reference = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    component = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return set(component.get("properties", {}))


def test_every_example_call_matches_the_schema():
    schema = api_schema()
    calls = _example_calls()
    assert len(calls) >= 10
    for method, path, query, body in calls:
        operation = _operation(schema, method, path)
        assert operation is not None, f"README: {method.upper()} {path} is not in the schema"
        parameters = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(query) <= parameters, f"README: {path} uses {set(query) - parameters}"
        if body:
            fields = _request_fields(schema, operation)
            assert set(body) <= fields, f"README: {path} sends {set(body) - fields}"


def test_the_examples_cover_every_resource():
    resources = {path.split("/")[3] for _, path, _, _ in _example_calls()}
    documented = {template.split("/")[3] for template in api_schema()["paths"]}
    assert resources == documented
