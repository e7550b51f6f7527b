"""Production: refuses to start on an unsafe configuration, secure cookies and HSTS on."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int
from config.settings.base import *  # noqa: F403
from config.settings.base import ALLOWED_HOSTS, DEBUG, SECRET_KEY, TRUSTED_PROXY_COUNT

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}

if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Generate one with "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` and set it in the "
        "environment; Keyhold will not start in production without it."
    )
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY is too short: use at least 50 random characters.")
if DEBUG and not set(ALLOWED_HOSTS) <= _LOCAL_HOSTS:
    raise ImproperlyConfigured(
        "DEBUG is on while ALLOWED_HOSTS names a non-local host "
        f"({', '.join(sorted(set(ALLOWED_HOSTS) - _LOCAL_HOSTS))}). Debug pages show settings "
        "and request data: set DEBUG=false for any host reachable from the network."
    )

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# __Host- cookies are bound to this exact host, over HTTPS, for the whole path.
SESSION_COOKIE_NAME = "__Host-keyhold-session"
CSRF_COOKIE_NAME = "__Host-keyhold-csrf"
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
