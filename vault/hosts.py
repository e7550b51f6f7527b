"""The host or URL a credential opens: one rule for the vault, intake and imports."""

import re

from config.errors import FieldInvalid

HOST_MAX = 500
# A bare host name or address, with an optional port and path; anything with a scheme
# must be http(s) (javascript:, data:, file: and friends are refused).
_BARE_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]+\])"
    r"(?::\d{1,5})?(?:/[^\s<>\"'`\\]*)?$"
)
_URL = re.compile(
    r"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]+\])"
    r"(?::\d{1,5})?(?:[/?#][^\s<>\"'`\\]*)?$",
    re.IGNORECASE,
)


def host_clean(host: str) -> str:
    """The host stripped, or FieldInvalid("host", …) saying in plain words what is wrong."""
    host = host.strip()
    if not host:
        return ""
    if len(host) > HOST_MAX:
        raise FieldInvalid("host", f"The host or URL is at most {HOST_MAX} characters.")
    if _URL.match(host) or _BARE_HOST.match(host):
        return host
    raise FieldInvalid(
        "host",
        "Enter a host name (dc01.contoso.local, 10.0.0.5:3389) or an http(s) address; "
        "other kinds of links are refused.",
    )
