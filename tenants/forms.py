from django import forms

from tenants.models import TIME_ZONE_CHOICES, AccessLevel, Client, System


class ClientForm(forms.Form):
    name = forms.CharField(label="Client name", max_length=200)
    slug = forms.SlugField(
        label="Short name",
        max_length=80,
        required=False,
        help_text="Used in addresses; leave empty to derive it from the name.",
    )
    status = forms.ChoiceField(choices=Client.Status.choices, initial=Client.Status.ONBOARDING)
    psa_company_id = forms.CharField(label="PSA company id", max_length=100, required=False)
    business_time_zone = forms.ChoiceField(
        label="Business hours time zone", choices=TIME_ZONE_CHOICES, initial="UTC"
    )


class SystemForm(forms.Form):
    name = forms.CharField(label="System name", max_length=200)
    kind = forms.ChoiceField(label="Kind", choices=System.Kind.choices)


class AssignStaffForm(forms.Form):
    """Grant a staff member access to the client on this page."""

    user = forms.ModelChoiceField(label="Staff member", queryset=None)
    level = forms.TypedChoiceField(
        label="Access level", choices=AccessLevel.choices, coerce=int, initial=AccessLevel.USE
    )

    def __init__(self, *args, staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = staff


class AssignClientForm(forms.Form):
    """Grant the staff member on this page access to one of the clients the actor manages."""

    client = forms.ModelChoiceField(label="Client", queryset=None)
    level = forms.TypedChoiceField(
        label="Access level", choices=AccessLevel.choices, coerce=int, initial=AccessLevel.USE
    )

    def __init__(self, *args, clients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = clients


class PrimaryTechnicianForm(forms.Form):
    """Who owns the client's rotation tasks; empty leaves them to the managers' queue."""

    technician = forms.ModelChoiceField(
        label="Primary technician",
        queryset=None,
        required=False,
        empty_label="None (managers' queue)",
        help_text="Owns the client's rotation tasks.",
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technician"].queryset = candidates
