from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Intake"

    def ready(self) -> None:
        from intake.models import (
            IMPORT_ROW_RECORD_TYPE,
            INTAKE_ENTRY_RECORD_TYPE,
            STAGED_CREDENTIAL_RECORD_TYPE,
        )
        from vault.envelope import EncryptedField, encrypted_field_register

        # Secrets waiting in intake drafts, staging and import previews are sealed with the
        # client's key, so client key rotation re-encrypts them and crypto-shredding ends them.
        for model, record_type in (
            ("intake.IntakeEntry", INTAKE_ENTRY_RECORD_TYPE),
            ("intake.StagedCredential", STAGED_CREDENTIAL_RECORD_TYPE),
            ("intake.ImportRow", IMPORT_ROW_RECORD_TYPE),
        ):
            for field in ("secret", "notes", "totp_seed"):
                encrypted_field_register(EncryptedField(model, field, record_type))
