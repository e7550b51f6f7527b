"""API token forms: input validation only (the service checks rights, bounds and clients)."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from integrations.models import ApiScope
from integrations.services.tokens import NAME_MAX, REASON_MAX

DEFAULT_DAYS = 90


class ApiTokenForm(forms.Form):
    """Name, scopes, clients, expiry and networks of a new token; `clients` are the
    administrator's own (from a selector), so a token never reaches further."""

    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX,
        help_text="The integration that will use it, such as 'HaloPSA sync'.",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(scope.value, f"{scope.label} ({scope.value})") for scope in ApiScope],
        widget=forms.CheckboxSelectMultiple,
        help_text="Only what the integration needs. Reveal returns secrets: give it rarely.",
    )
    clients = forms.ModelMultipleChoiceField(
        label="Clients",
        queryset=None,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Leave none selected for all your clients. The token never reaches a client "
        "you are not assigned to.",
    )
    expires_on = forms.DateField(
        label="Expires after",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The token works through this day.",
    )
    allowed_networks = forms.CharField(
        label="Allowed networks (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One address or network a line, such as 203.0.113.0/24. Leave empty for any.",
    )

    def __init__(self, *args, clients: QuerySet, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clients"].queryset = clients
        today = timezone.localdate()
        latest = today + timedelta(days=settings.API_TOKEN_MAX_DAYS)
        self.fields["expires_on"].initial = today + timedelta(days=DEFAULT_DAYS)
        self.fields["expires_on"].widget.attrs.update(min=today.isoformat(), max=latest.isoformat())
        self.fields[
            "expires_on"
        ].help_text = (
            f"The token works through this day; at most {settings.API_TOKEN_MAX_DAYS} days away."
        )

    def expires_at(self) -> datetime:
        """The end of the chosen day: the start of the next, in Keyhold's time zone."""
        day: date = self.cleaned_data["expires_on"]
        return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))

    def networks(self) -> list[str]:
        return self.cleaned_data["allowed_networks"].splitlines()


class ApiTokenRevokeForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit log, such as 'Integration replaced' or 'Leaked in a ticket'.",
    )
