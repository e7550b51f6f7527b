from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vault.keyring import keyring_create, keyring_load


class Command(BaseCommand):
    help = "Create the local keyring file at KEYHOLD_KEYRING (mode 0600)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing when a valid keyring already exists (for set-up scripts).",
        )

    def handle(self, *args, **options):
        path = settings.KEYHOLD_KEYRING
        if path.exists():
            if not options["if_missing"]:
                raise CommandError(f"{path} already exists; Keyhold never overwrites a keyring.")
            keyring_load(path)
            self.stdout.write(f"Keyring {path} already exists.")
            return
        keyring_create(path)
        self.stdout.write(self.style.SUCCESS(f"Created keyring {path} (mode 0600)."))
        self.stdout.write("Back it up apart from the database: without it no secret can be read.")
