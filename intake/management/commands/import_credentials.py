from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from config.errors import KeyholdError
from intake.importers import FORMATS
from intake.selectors.imports import ImportSummary, import_summary
from intake.services import imports as import_services
from tenants.models import AccessLevel
from tenants.selectors import client_get_for_user


def _count(count: int, noun: str) -> str:
    return f"1 {noun}" if count == 1 else f"{count} {noun}s"


def _mapping(text: str) -> dict[str, str]:
    mapping = {}
    for part in filter(None, (item.strip() for item in text.split(","))):
        field, _, column = part.partition("=")
        if not column:
            raise CommandError(
                f"Write each mapping as field=Column, e.g. name=Title (not {part!r})."
            )
        mapping[field.strip()] = column.strip()
    return mapping


class Command(BaseCommand):
    help = (
        "Import a previous provider's password export into a client's vault, as the Imports "
        "page does: every valid row becomes an inherited, compromised credential with a "
        "rotation task. Row errors stop the import unless --exclude-invalid is given; "
        "--dry-run prints the preview and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("client", help="The client's slug.")
        parser.add_argument("file", help="The export file (read from this path, never copied).")
        parser.add_argument("--format", choices=sorted(FORMATS), help="Default: detected.")
        parser.add_argument(
            "--mapping",
            default="",
            help="For a generic CSV: field=Column pairs separated by commas, e.g. "
            "name=Title,username=Login,secret=Password,url=Address.",
        )
        parser.add_argument("--password-file", help="A file holding the KeePass database password.")
        parser.add_argument(
            "--no-header", action="store_true", help="The Passportal export has no header row."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the preview and row errors only."
        )
        parser.add_argument(
            "--exclude-invalid",
            action="store_true",
            help="Leave out the rows with errors and import the others.",
        )
        parser.add_argument(
            "--actor",
            required=True,
            metavar="EMAIL",
            help="The staff member the import is done as and audited to (manage access to the "
            "client, onboarding, manager or administrator role).",
        )

    def handle(self, *args, **options):
        actor = User.objects.filter(email=options["actor"].strip().lower(), is_active=True).first()
        if actor is None:
            raise CommandError(f"No active staff member has the email {options['actor']}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"There is no file at {path}.")
        password = None
        if options["password_file"]:
            password = Path(options["password_file"]).read_text().rstrip("\r\n")
        arguments = {
            "filename": path.name,
            "format": options["format"],
            "mapping": _mapping(options["mapping"]) or None,
            "password": password,
            "has_header": False if options["no_header"] else None,
        }
        try:
            client = client_get_for_user(
                actor=actor, slug=options["client"], level=AccessLevel.MANAGE
            )
            with path.open("rb") as upload:
                if options["dry_run"]:
                    summary = import_services.import_preview_dry_run(
                        actor=actor, client=client, upload=upload, **arguments
                    )
                    self._summary(summary)
                    self.stdout.write("Dry run: nothing was imported or stored.")
                    self._refuse_errors(summary, options)
                    return
                batch = import_services.import_preview_create(
                    actor=actor, client=client, upload=upload, **arguments
                )
            summary = import_summary(actor=actor, batch=batch)
            self._summary(summary)
            if summary.error_count and not options["exclude_invalid"]:
                import_services.import_cancel(actor=actor, batch=batch)
                self._refuse_errors(summary, options)
            if summary.error_count:
                import_services.import_rows_exclude_invalid(actor=actor, batch=batch)
            result = import_services.import_confirm(actor=actor, batch=batch)
        except KeyholdError as error:
            raise CommandError(error.message) from None
        imported = _count(result.imported, "credential")
        excluded = _count(result.excluded, "row")
        self.stdout.write(
            f"Imported {imported} into {client.name} as inherited and compromised, each with "
            f"a rotation task; {excluded} excluded. Import {batch.pk}."
        )

    def _summary(self, summary: ImportSummary) -> None:
        label = FORMATS.get(summary.format, summary.format)
        self.stdout.write(f"File: {summary.filename} ({label})")
        self.stdout.write(
            f"Rows: {summary.row_count}; with errors: {summary.error_count}; "
            f"duplicates: {summary.duplicate_count}."
        )
        if summary.organizations:
            self.stdout.write(f"Organizations named: {', '.join(summary.organizations)}.")
        for number, errors in summary.row_errors:
            for error in errors:
                self.stdout.write(f"Row {number}: {error}")

    def _refuse_errors(self, summary: ImportSummary, options) -> None:
        if summary.error_count and not options["exclude_invalid"]:
            rows = _count(summary.error_count, "row")
            raise CommandError(
                f"Nothing was imported: {rows} with errors. Fix the file, or run again with "
                "--exclude-invalid to import the other rows."
            )
