"""Key providers: the key-encryption key behind one interface (see base.KeyProvider).

KEYHOLD_KEY_PROVIDER picks exactly one provider; a misconfigured provider is an error at
start-up, never a silent fallback to another provider (C28).
"""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from vault.providers.base import (
    KeyProvider,
    KeyProviderError,
    KeyProviderUnavailable,
    KeyUnwrapFailed,
    ProviderHealth,
    WrappedKey,
)

__all__ = [
    "KeyProvider",
    "KeyProviderError",
    "KeyProviderUnavailable",
    "KeyUnwrapFailed",
    "ProviderHealth",
    "WrappedKey",
    "provider_from_settings",
]

PROVIDER_NAMES = ("local", "aws-kms", "vault-transit")


def provider_from_settings() -> KeyProvider:
    """The configured key provider; raises ImproperlyConfigured naming the setting at fault."""
    choice = getattr(settings, "KEYHOLD_KEY_PROVIDER", "local") or "local"
    try:
        if choice == "local":
            from vault.providers.local import LocalKeyringProvider

            return LocalKeyringProvider(Path(settings.KEYHOLD_KEYRING))
        if choice == "aws-kms":
            from vault.providers.aws_kms import AwsKmsProvider

            return AwsKmsProvider(
                _required("KEYHOLD_KMS_KEY_ID"),
                region=_required("KEYHOLD_KMS_REGION"),
                endpoint_url=getattr(settings, "KEYHOLD_KMS_ENDPOINT_URL", "") or None,
                key_version=_whole_number("KEYHOLD_KMS_KEY_VERSION", default=1),
                previous_key_ids=_names("KEYHOLD_KMS_PREVIOUS_KEY_IDS"),
            )
        if choice == "vault-transit":
            from vault.providers.vault_transit import VaultTransitProvider

            return VaultTransitProvider(
                _required("KEYHOLD_TRANSIT_URL"),
                token_file=Path(_required("KEYHOLD_TRANSIT_TOKEN_FILE")),
                key_name=_required("KEYHOLD_TRANSIT_KEY"),
                mount=getattr(settings, "KEYHOLD_TRANSIT_MOUNT", "") or "transit",
                verify=getattr(settings, "KEYHOLD_TRANSIT_CA_BUNDLE", "") or True,
            )
    except ValueError as exc:
        raise ImproperlyConfigured(f"Key provider {choice}: {exc}") from None
    raise ImproperlyConfigured(
        f"KEYHOLD_KEY_PROVIDER must be one of {', '.join(PROVIDER_NAMES)}, not {choice!r}."
    )


def _required(name: str) -> str:
    value = str(getattr(settings, name, "") or "").strip()
    if not value:
        provider = getattr(settings, "KEYHOLD_KEY_PROVIDER", "local")
        raise ImproperlyConfigured(f"{name} is required when KEYHOLD_KEY_PROVIDER={provider}.")
    return value


def _whole_number(name: str, *, default: int) -> int:
    raw = getattr(settings, name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1, not {value}.")
    return value


def _names(name: str) -> tuple[str, ...]:
    raw = getattr(settings, name, ())
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return tuple(item.strip() for item in items if item.strip())
