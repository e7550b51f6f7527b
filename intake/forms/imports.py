"""Forms of the import pages: the upload, the column mapping of a generic CSV, and the
per-row exclusions of a preview. Validation of input only; the service checks the rest."""

from django import forms

from intake.importers import FORMATS, GENERIC_FIELDS

FIELD_LABELS = {
    "name": "Name",
    "username": "Username",
    "secret": "Password",
    "url": "URL",
    "notes": "Notes",
    "totp": "TOTP secret",
    "folder": "Folder",
    "client_name": "Client name",
    "credential_type": "Credential type",
}
# Column names that usually hold a field, for the mapping's first suggestion.
_USUAL_COLUMNS = {
    "name": ("name", "title", "account", "credential name"),
    "username": ("username", "user name", "user", "login", "login name", "login_username"),
    "secret": ("password", "secret", "login_password", "pass"),
    "url": ("url", "uri", "website", "web site", "login_uri", "host"),
    "notes": ("notes", "note", "comments", "description", "extra"),
    "totp": ("totp", "otp", "otp_secret", "totp secret", "otpauth", "login_totp"),
    "folder": ("folder", "group", "grouping", "path", "collection"),
    "client_name": ("client", "client name", "organization", "company"),
    "credential_type": ("type", "credential type", "category"),
}
HEADER_CHOICES = [
    ("", "Detect it"),
    ("yes", "The first row is a header"),
    ("no", "The file has no header row"),
]


class ImportUploadForm(forms.Form):
    """The export and how to read it; the file field comes last (see the upload handler)."""

    format = forms.ChoiceField(
        label="Format",
        choices=[("", "Detect from the file"), *FORMATS.items()],
        required=False,
        help_text="Keyhold recognises the format from the file's header; choose one only if "
        "it guesses wrong.",
    )
    has_header = forms.ChoiceField(
        label="Header row (Passportal)",
        choices=HEADER_CHOICES,
        required=False,
        help_text="Passportal exports may leave out the header row.",
    )
    password = forms.CharField(
        label="KeePass database password",
        required=False,
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Only for a KeePass .kdbx file: used to open it, then forgotten.",
    )
    file = forms.FileField(
        label="Export file",
        help_text="CSV, JSON or KeePass (.kdbx). It is read in memory and never stored.",
    )

    def header(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.cleaned_data.get("has_header") or "")


class ImportMappingForm(forms.Form):
    """Which column of a generic CSV holds each Keyhold field; the file is chosen again.

    The upload is never kept between requests, so the same file comes with the mapping;
    its columns are read again and must offer the mapped names.
    """

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Not in this file"), *((column, column) for column in columns)]
        lowered = {column.strip().lower(): column for column in columns}
        for name in GENERIC_FIELDS:
            suggestion = next(
                (lowered[usual] for usual in _USUAL_COLUMNS.get(name, ()) if usual in lowered),
                "",
            )
            self.fields[f"map_{name}"] = forms.ChoiceField(
                label=f"{FIELD_LABELS.get(name, name)} column",
                choices=choices,
                required=name == "secret",
                initial=suggestion,
            )
        self.fields["file"] = forms.FileField(
            label="Choose the same file again",
            help_text="Keyhold does not keep your file between steps: nothing of it is stored "
            "until the preview, and then only encrypted.",
        )

    def mapping(self) -> dict[str, str]:
        return {
            name: self.cleaned_data[f"map_{name}"]
            for name in GENERIC_FIELDS
            if self.cleaned_data.get(f"map_{name}")
        }


class ImportRowsForm(forms.Form):
    """One "exclude this row" box per row shown; rows already imported cannot change."""

    def __init__(self, *args, rows: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            self.fields[f"exclude_{row.pk}"] = forms.BooleanField(
                label=f"Exclude row {row.row_number}",
                required=False,
                initial=row.excluded,
                disabled=row.credential_id is not None,
            )

    def bound_rows(self) -> list[tuple]:
        return [(row, self[f"exclude_{row.pk}"]) for row in self.rows]

    def changes(self) -> tuple[set, set]:
        """The rows to exclude and the rows to include again."""
        excluded, included = set(), set()
        for row in self.rows:
            if row.credential_id is not None:
                continue
            (excluded if self.cleaned_data[f"exclude_{row.pk}"] else included).add(row.pk)
        return excluded, included
