"""AWS KMS as the KEK: Encrypt, Decrypt and ReEncrypt with the context as EncryptionContext.

Key version. KMS keeps every generation of a key's backing material inside the key and
picks the right one on Decrypt, so it never tells the caller a version. The version this
provider reports is Keyhold's own count of KEK rotations, taken from configuration
(KEYHOLD_KMS_KEY_VERSION): raise it when rotating, either on demand (RotateKeyOnDemand on the
same key) or by pointing KEYHOLD_KMS_KEY_ID at a new key and listing the old one in
KEYHOLD_KMS_PREVIOUS_KEY_IDS, then run the rewrap job. The number is part of the
encryption context of every wrapped key, so a stored version that was altered fails to
unwrap, and rewrapped keys are told apart from the ones still to do.

Key pinning. Decrypt and ReEncrypt name the key that must have wrapped the blob, and only
the configured keys are accepted; an alias is refused as configuration because whoever can
repoint an alias could substitute a key of their own.

Timeouts are short and retries few, so an unreachable KMS fails fast and closed with
KeyProviderUnavailable; there is no fallback to another provider.
"""

from collections.abc import Mapping, Sequence

import boto3
import botocore.exceptions
from botocore.config import Config

from vault.providers.base import (
    RESERVED_CONTEXT_PREFIX,
    KeyProvider,
    KeyProviderError,
    KeyProviderUnavailable,
    KeyUnwrapFailed,
    WrappedKey,
    require_loopback_or_https,
)

VERSION_CONTEXT_KEY = RESERVED_CONTEXT_PREFIX + "kek_version"
# Worth retrying later: KMS is throttling, degraded or waiting on a custom key store.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "RequestLimitExceeded",
    }
)
# This blob will never unwrap with this key and context: tampered, wrong context or key,
# or the key is disabled or scheduled for deletion.
REFUSED_CODES = frozenset(
    {
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "InvalidKeyUsageException",
        "DisabledException",
        "KMSInvalidStateException",
        "NotFoundException",
    }
)


class AwsKmsProvider(KeyProvider):
    name = "aws-kms"

    def __init__(
        self,
        key_id: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        key_version: int = 1,
        previous_key_ids: Sequence[str] = (),
        connect_timeout: float = 1.0,
        read_timeout: float = 3.0,
        max_attempts: int = 2,
        session: boto3.session.Session | None = None,
    ) -> None:
        for configured in (key_id, *previous_key_ids):
            if not configured or configured.startswith("alias/") or ":alias/" in configured:
                raise ValueError("KMS keys must be given as a key id or key ARN, not an alias.")
        if not isinstance(key_version, int) or key_version < 1:
            raise ValueError("The KMS key version must be a whole number of at least 1.")
        if endpoint_url:
            require_loopback_or_https(endpoint_url, setting="KEYHOLD_KMS_ENDPOINT_URL")
        self._key_id = key_id
        self._key_version = key_version
        self._trusted = (key_id, *previous_key_ids)
        self._region = region
        # Credentials come from boto3's usual chain (environment, profile, instance role).
        self._client = (session or boto3.session.Session()).client(
            "kms",
            region_name=region,
            endpoint_url=endpoint_url or None,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "max_attempts": max_attempts},
            ),
        )

    def __repr__(self) -> str:
        return f"<AwsKmsProvider {self._key_id} ({self._region}) version {self._key_version}>"

    def key_id(self) -> str:
        return self._key_id

    def key_version(self) -> int:
        return self._key_version

    def _wrap(self, data_key: bytes, *, context: Mapping[str, str]) -> WrappedKey:
        response = self._call(
            "encrypt",
            unwrapping=False,
            KeyId=self._key_id,
            Plaintext=data_key,
            EncryptionContext=self._context(context, self._key_version),
        )
        return self._wrapped(response, version=self._key_version)

    def _unwrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> bytes:
        self._require_trusted(wrapped.key_id)
        response = self._call(
            "decrypt",
            unwrapping=True,
            KeyId=wrapped.key_id,
            CiphertextBlob=wrapped.ciphertext,
            EncryptionContext=self._context(context, wrapped.key_version),
        )
        return response["Plaintext"]

    def _rewrap(self, wrapped: WrappedKey, *, context: Mapping[str, str]) -> WrappedKey:
        self._require_trusted(wrapped.key_id)
        response = self._call(
            "re_encrypt",
            unwrapping=True,
            CiphertextBlob=wrapped.ciphertext,
            SourceKeyId=wrapped.key_id,
            SourceEncryptionContext=self._context(context, wrapped.key_version),
            DestinationKeyId=self._key_id,
            DestinationEncryptionContext=self._context(context, self._key_version),
        )
        return self._wrapped(response, version=self._key_version)

    def _check_key(self) -> None:
        metadata = self._call("describe_key", unwrapping=False, KeyId=self._key_id)["KeyMetadata"]
        if metadata.get("KeyState") != "Enabled" or metadata.get("KeyUsage") != "ENCRYPT_DECRYPT":
            raise KeyProviderError(
                f"{self.name}: key {self._key_id} is not an enabled encryption key"
            )
        if metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            raise KeyProviderError(f"{self.name}: key {self._key_id} is not a symmetric key")

    def _wrapped(self, response: Mapping, *, version: int) -> WrappedKey:
        arn = response.get("KeyId", "")
        if not _same_key(arn, self._key_id):
            raise KeyProviderError(f"{self.name}: KMS answered with a different key")
        return WrappedKey(
            provider=self.name,
            key_id=arn,
            key_version=version,
            ciphertext=response["CiphertextBlob"],
        )

    def _require_trusted(self, key_id: str) -> None:
        if not any(_same_key(key_id, trusted) for trusted in self._trusted):
            raise KeyUnwrapFailed(f"{self.name}: the key was wrapped by a key not configured here")

    @staticmethod
    def _context(context: Mapping[str, str], version: int) -> dict[str, str]:
        return {**context, VERSION_CONTEXT_KEY: str(version)}

    def _call(self, method: str, *, unwrapping: bool, **arguments: object) -> dict:
        operation = self._client.meta.method_to_api_mapping[method]
        try:
            return getattr(self._client, method)(**arguments)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "UnknownError"))
            message = f"{self.name}: {operation} refused ({code})"
            if code in TRANSIENT_CODES:
                raise KeyProviderUnavailable(message) from None
            if unwrapping and code in REFUSED_CODES:
                raise KeyUnwrapFailed(message) from None
            raise KeyProviderError(message) from None
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            raise KeyProviderUnavailable(
                f"{self.name}: {operation} could not reach KMS ({type(exc).__name__})"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise KeyProviderError(
                f"{self.name}: {operation} failed ({type(exc).__name__})"
            ) from None


def _same_key(candidate: str, configured: str) -> bool:
    """A key ARN matches its own ARN or its bare key id (also a multi-Region "mrk-" id)."""
    return bool(candidate) and (candidate == configured or candidate.endswith(f":key/{configured}"))
