from django.apps import AppConfig


class OffboardingConfig(AppConfig):
    name = "offboarding"
    verbose_name = "Offboarding"

    def ready(self) -> None:
        from audit.departures import offboarding_source_register
        from offboarding.selectors.cases import OffboardingReviewSource

        # The access review and the hygiene audit read open cases and departures through
        # this (audit never imports offboarding).
        offboarding_source_register(OffboardingReviewSource())
