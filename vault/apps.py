from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Vault"

    def ready(self) -> None:
        from audit.hygiene import credential_inventory_register
        from vault import receivers  # noqa: F401  (ends leases when client access is lowered)
        from vault.envelope import EncryptedField, encrypted_field_register
        from vault.models import (
            CREDENTIAL_RECORD_TYPE,
            CREDENTIAL_VERSION_RECORD_TYPE,
            SHARE_LINK_RECORD_TYPE,
        )
        from vault.selectors.inventory import VaultCredentialInventory

        for field in ("secret", "notes", "totp_seed"):
            encrypted_field_register(
                EncryptedField("vault.Credential", field, CREDENTIAL_RECORD_TYPE)
            )
        encrypted_field_register(
            EncryptedField(
                "vault.CredentialSecretVersion", "secret", CREDENTIAL_VERSION_RECORD_TYPE
            )
        )
        encrypted_field_register(
            EncryptedField("vault.ShareLink", "payload", SHARE_LINK_RECORD_TYPE)
        )
        # The hygiene audit's credential checks read the vault through this (audit never
        # imports vault).
        credential_inventory_register(VaultCredentialInventory())
