"""How django-axes names the account in a lockout record."""

from django.http import HttpRequest


def lockout_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The email as Keyhold compares it, so "Bob@X" and "bob@x" share one failure count."""
    raw = (credentials or {}).get("username") or request.POST.get("username")
    return raw.strip().lower() if raw else None
