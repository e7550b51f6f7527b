"""Webhook subscription form: input validation only (the service checks rights, the address
and the clients)."""

from django import forms
from django.db.models import QuerySet

from integrations.models import WebhookEventType
from integrations.services.webhooks import NAME_MAX, SUBSCRIBABLE, URL_MAX


class WebhookSubscriptionForm(forms.Form):
    """Name, address, events and clients of a subscription; `clients` are the administrator's
    own (from a selector), so a subscription never reaches further."""

    name = forms.CharField(
        label="Name",
        max_length=NAME_MAX,
        help_text="The tool that receives the events, such as 'SIEM' or 'Teams relay'.",
    )
    url = forms.CharField(
        label="Receiver address",
        max_length=URL_MAX,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/keyhold"}),
        help_text="Keyhold POSTs each event here as signed JSON, over https. Redirects are "
        "not followed.",
    )
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=[(value, WebhookEventType(value).label) for value in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
    )
    clients = forms.ModelMultipleChoiceField(
        label="Clients",
        queryset=None,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Leave none selected for all your clients. Events of clients you are not "
        "assigned to are never sent.",
    )
    is_active = forms.BooleanField(
        label="Send events",
        required=False,
        initial=True,
        help_text="Untick to pause; events that happen while paused are not sent later.",
    )

    def __init__(self, *args, clients: QuerySet, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clients"].queryset = clients
        if not editing:
            del self.fields["is_active"]
