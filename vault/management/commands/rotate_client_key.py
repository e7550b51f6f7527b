from django.core.management.base import BaseCommand, CommandError

from config.errors import KeyholdError
from tenants.models import Client
from vault.selectors import client_key_status
from vault.services import client_key_rotation_start
from vault.tasks import client_key_rotation_continue


class Command(BaseCommand):
    help = (
        "Give a client a new data key and re-encrypt its secrets under it, in batches, while "
        "Keyhold keeps serving; the old key is destroyed once nothing uses it."
    )

    def add_arguments(self, parser):
        parser.add_argument("client", help="The client's slug.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--wait", action="store_true", help="Re-encrypt here and now instead of in Celery."
        )
        mode.add_argument(
            "--status", action="store_true", help="Show the client's keys and what is left."
        )
        mode.add_argument(
            "--resume",
            action="store_true",
            help="Continue an interrupted rotation here without starting a new one.",
        )

    def handle(self, *args, **options):
        client = Client.objects.filter(slug=options["client"]).first()
        if client is None:
            raise CommandError(f"There is no client with the slug {options['client']!r}.")
        if options["status"]:
            self._status(client)
            return
        if not options["resume"]:
            try:
                key = client_key_rotation_start(actor=None, client=client)
            except KeyholdError as error:
                raise CommandError(error.message) from None
            self.stdout.write(f"{client.name}: new data key v{key.version} is active.")
        if options["wait"] or options["resume"]:
            remaining = client_key_rotation_continue(str(client.pk))
            if remaining:
                raise CommandError(
                    f"{remaining} value(s) could not be re-encrypted (see the audit log, action "
                    "vault.decryption_failed); the old key is kept until they are."
                )
            self._status(client)
            self.stdout.write(self.style.SUCCESS("Re-encryption finished; old keys destroyed."))
            return
        self.stdout.write(
            "Re-encryption is queued in Celery. Watch it with "
            f"`python manage.py rotate_client_key {client.slug} --status`."
        )

    def _status(self, client):
        status = client_key_status(actor=None, client=client)
        for key in status.keys:
            self.stdout.write(f"  v{key.version} {key.state}")
        self.stdout.write(f"{status.remaining} value(s) still sealed under a retiring key.")
