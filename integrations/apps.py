from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import (
            receivers,  # noqa: F401  (token revocation on departure)
            schema,  # noqa: F401  (OpenAPI security schemes)
        )
