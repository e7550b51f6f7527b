from django.apps import AppConfig


class RotationConfig(AppConfig):
    name = "rotation"
    verbose_name = "Rotation"

    def ready(self) -> None:
        from rotation import receivers  # noqa: F401  (rotates after a staff change)
