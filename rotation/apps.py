from django.apps import AppConfig


class RotationConfig(AppConfig):
    name = "rotation"
    verbose_name = "Rotation"

    def ready(self) -> None:
        from rotation import receivers  # noqa: F401  (rotates after a staff change)
        from rotation.models import ROTATION_ATTEMPT_RECORD_TYPE
        from vault.envelope import EncryptedField, encrypted_field_register

        # Automated rotation's pending secrets are re-encrypted by client key rotation too.
        encrypted_field_register(
            EncryptedField(
                "rotation.RotationAttempt", "pending_secret", ROTATION_ATTEMPT_RECORD_TYPE
            )
        )
