from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import invitation_create
from config.errors import KeyholdError


class Command(BaseCommand):
    help = "Invite an administrator from the shell (the first one on a fresh install)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", required=True, help="Full name")
        parser.add_argument(
            "--base-url",
            default="http://localhost:8000",
            help="Where Keyhold is served, to print a complete link.",
        )

    def handle(self, *args, **options):
        try:
            invitation, token = invitation_create(
                actor=None,
                email=options["email"],
                full_name=options["name"],
                roles=[Role.ADMINISTRATOR],
            )
        except KeyholdError as error:
            raise CommandError(error.message) from None
        link = f"{options['base_url'].rstrip('/')}/invitation/{token}/"
        expires = f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC"
        self.stdout.write(f"Invitation for {invitation.email} (valid until {expires}):")
        self.stdout.write(link)
