"""Offboarding forms: input validation only (the services check rights and state)."""

from django import forms

from offboarding.services.departures import REASON_MAX, RISK_REASON_MIN

# --- Technician departures ---------------------------------------------------------------------


class DepartureOpenForm(forms.Form):
    """Who is leaving, and why (the reason opens the evidence log)."""

    subject = forms.ModelChoiceField(label="Staff member who is leaving", queryset=None)
    reason = forms.CharField(
        label="Reason for the departure",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: resigned, last day 30 June. Kept in the evidence log.",
    )

    def __init__(self, *args, staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subject"].queryset = staff


class DepartureCloseForm(forms.Form):
    """Close the case; with rotation tasks still open, a manager writes why that is acceptable."""

    risk_accepted_reason = forms.CharField(
        label="Why the remaining risk is acceptable",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            f"Needed only while rotation tasks are open (managers only, at least "
            f"{RISK_REASON_MIN} characters)."
        ),
    )


# --- Client offboarding ------------------------------------------------------------------------

from offboarding.services.client_exits import REASON_MAX as CLIENT_EXIT_REASON_MAX  # noqa: E402


class ClientExitOpenForm(forms.Form):
    """Which client is leaving, and why (the reason opens the evidence log)."""

    client = forms.ModelChoiceField(
        label="Client that is leaving", queryset=None, to_field_name="slug"
    )
    reason = forms.CharField(
        label="Reason",
        max_length=CLIENT_EXIT_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: contract ends 30 June, moving to another provider.",
    )

    def __init__(self, *args, clients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients


class ClientExitDecisionForm(forms.Form):
    """What happens to one credential: handed over as it is, or rotated first."""

    decision = forms.ChoiceField(
        choices=[("hand_over", "Hand over to the client"), ("rotate", "Rotate first")]
    )
