"""Input of the review pages: periods, filters and sign-off dispositions. Validation only."""

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.catalogue import ACTIONS
from audit.models import Outcome
from audit.reviews import Disposition, Month, Quarter, finding_kinds

_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER = re.compile(r"(\d{4})-?Q(\d+)", re.IGNORECASE)
FIRST_YEAR = 2000


def _shown(text: str) -> str:
    return text if len(text) <= 20 else text[:19] + "…"


class MonthField(forms.CharField):
    """YYYY-MM, a month that has started; anything else is a message, never a crash."""

    def to_python(self, value: Any) -> Month | None:
        text = super().to_python(value).strip()
        if not text:
            return None
        match = _MONTH.fullmatch(text)
        if match is None:
            raise ValidationError(
                f"“{_shown(text)}” is not a month. Enter it as YYYY-MM, for example 2026-03."
            )
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise ValidationError(f"{text} is not a month: months run from 01 to 12.")
        if year < FIRST_YEAR:
            raise ValidationError(f"Keyhold keeps no events from before {FIRST_YEAR}.")
        period = Month(year, month)
        if period.start_at > timezone.now():
            raise ValidationError(
                f"{period.label} has not started yet, so there is nothing to review."
            )
        return period


class QuarterField(forms.CharField):
    """YYYY-Qn, a quarter that has started."""

    def to_python(self, value: Any) -> Quarter | None:
        text = super().to_python(value).strip()
        if not text:
            return None
        match = _QUARTER.fullmatch(text)
        if match is None:
            raise ValidationError(
                f"“{_shown(text)}” is not a quarter. Enter it as YYYY-Qn, for example 2026-Q1."
            )
        year, number = int(match[1]), int(match[2])
        if not 1 <= number <= 4:
            raise ValidationError(f"{text} is not a quarter: quarters run from Q1 to Q4.")
        if year < FIRST_YEAR:
            raise ValidationError(f"Keyhold keeps no data from before {FIRST_YEAR}.")
        period = Quarter(year, number)
        if period > Quarter.containing(timezone.now()):
            raise ValidationError(f"{period.label} has not started yet.")
        return period


class ReviewFilterForm(forms.Form):
    """The month picker and the optional client and technician filters."""

    month = MonthField(label="Month", required=False)
    client = forms.SlugField(
        label="Client", required=False, error_messages={"invalid": "Choose a client from the list."}
    )
    technician = forms.UUIDField(
        label="Technician",
        required=False,
        error_messages={"invalid": "Choose a technician from the list."},
    )

    def clean_month(self) -> Month:
        """No month means the last complete one: the one a review is usually about."""
        return self.cleaned_data["month"] or Month.containing(timezone.now()).previous()


def _finding_choices() -> list[tuple[str, str]]:
    return [("", "All events"), *((kind.key, kind.title) for kind in finding_kinds())]


def _action_choices() -> list[tuple[str, str]]:
    return [("", "Any action"), *((name, name) for name in sorted(ACTIONS))]


class EventFilterForm(ReviewFilterForm):
    finding = forms.ChoiceField(
        label="Finding",
        required=False,
        choices=_finding_choices,
        error_messages={"invalid_choice": "Choose a finding from the list."},
    )
    action = forms.ChoiceField(
        label="Action",
        required=False,
        choices=_action_choices,
        error_messages={"invalid_choice": "Choose an action from the list."},
    )
    outcome = forms.ChoiceField(
        label="Outcome",
        required=False,
        choices=[("", "Any outcome"), *Outcome.choices],
        error_messages={"invalid_choice": "Choose an outcome from the list."},
    )


class HygieneFilterForm(forms.Form):
    quarter = QuarterField(label="Quarter", required=False)
    client = forms.SlugField(
        label="Client", required=False, error_messages={"invalid": "Choose a client from the list."}
    )

    def clean_quarter(self) -> Quarter:
        """No quarter means the current one: the audit reads today's data."""
        return self.cleaned_data["quarter"] or Quarter.containing(timezone.now())


class SignOffForm(forms.Form):
    """A disposition and an optional note for each finding, and notes for the record."""

    notes = forms.CharField(
        label="Notes for the record",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you checked and what follows. Kept with the sign-off; it cannot be "
        "changed afterwards.",
    )

    def __init__(self, *args: Any, findings: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        for finding in findings:
            self.fields[f"disposition_{finding.key}"] = forms.ChoiceField(
                label=finding.title,
                choices=Disposition.choices,
                widget=forms.RadioSelect,
                error_messages={"required": "Choose expected, investigating or incident."},
            )
            self.fields[f"note_{finding.key}"] = forms.CharField(
                label=f"Note on {finding.title.lower()}", required=False, max_length=2000
            )
        self.rows = [
            (finding, self[f"disposition_{finding.key}"], self[f"note_{finding.key}"])
            for finding in findings
        ]

    def dispositions(self) -> dict[str, tuple[str, str]]:
        return {
            finding.key: (
                self.cleaned_data[f"disposition_{finding.key}"],
                self.cleaned_data[f"note_{finding.key}"],
            )
            for finding, _, _ in self.rows
        }
