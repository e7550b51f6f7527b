from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import Role
from accounts.services import MfaMethod


class LoginForm(AuthenticationForm):
    """One message for every failure, so the form never tells whether an account exists."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        "invalid_login": "That email and password did not match an active account.",
        "inactive": "That email and password did not match an active account.",
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class MfaVerifyForm(forms.Form):
    method = forms.ChoiceField(
        label="Verify with",
        choices=[(MfaMethod.TOTP, "Authenticator app"), (MfaMethod.BACKUP_CODE, "Backup code")],
        initial=MfaMethod.TOTP,
        widget=forms.RadioSelect,
    )
    code = forms.CharField(
        label="Code",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}
        ),
    )


class TotpConfirmForm(forms.Form):
    code = forms.CharField(
        label="6-digit code from your app",
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class InvitationAcceptForm(forms.Form):
    full_name = forms.CharField(label="Full name", max_length=150)
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters; not a common password.",
    )
    password_confirm = forms.CharField(
        label="Repeat the password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") != cleaned.get("password_confirm"):
            self.add_error("password_confirm", "The two passwords differ.")
        return cleaned


class InvitationForm(forms.Form):
    email = forms.EmailField(label="Email")
    full_name = forms.CharField(label="Full name", max_length=150)
    roles = forms.MultipleChoiceField(
        label="Roles", choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label="Roles", choices=Role.choices, widget=forms.CheckboxSelectMultiple
    )
