"""Every URL pattern of the project as a concrete path, for sweeps that must miss none."""

import re
import uuid
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, resolve

_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
SAMPLE_UUID = str(uuid.UUID(int=1))


@dataclass(frozen=True)
class Endpoint:
    name: str
    regex: str
    callback: object

    def path(self, **values: str) -> str:
        def fill(match: re.Match) -> str:
            param = match.group(1)
            if param in values:
                return values[param]
            return _default_sample(param)

        raw = _GROUP.sub(fill, self.regex)
        path = "/" + raw.replace("\\Z", "").replace("$", "").replace("^", "").replace("\\", "")
        resolved = resolve(path)
        assert resolved.func == self.callback, f"{path} does not resolve to {self.name}"
        return path


def _default_sample(param: str) -> str:
    if param == "app_label":
        return "accounts"
    if param in {"url"}:
        return "anything/"
    if param == "object_id" or param.endswith("_id") or param == "pk":
        return SAMPLE_UUID
    if param == "token":
        return "sample-token"
    if param == "slug":
        return "no-such-client"
    return "sample"


def _strip(regex: str) -> str:
    return regex.removeprefix("^").removesuffix("\\Z").removesuffix("$")


def _walk(patterns, prefix: str, namespace: str):
    for pattern in patterns:
        regex = _strip(pattern.pattern.regex.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + regex, inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name or pattern.lookup_str}"
            yield Endpoint(name=name, regex=prefix + regex, callback=pattern.callback)


def all_endpoints() -> list[Endpoint]:
    return list(_walk(get_resolver().url_patterns, "", ""))
