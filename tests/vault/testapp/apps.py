from django.apps import AppConfig


class VaultTestAppConfig(AppConfig):
    """A table with encrypted fields for the vault's tests; installed by test settings only."""

    name = "tests.vault.testapp"
    label = "vault_testapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tests.vault.testapp.models import RECORD_TYPE
        from vault.envelope import EncryptedField, encrypted_field_register

        for field in ("body", "notes"):
            encrypted_field_register(
                EncryptedField("vault_testapp.EncryptedRecord", field, RECORD_TYPE)
            )
