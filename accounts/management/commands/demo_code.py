from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import TotpDevice


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo account (DEBUG only, demo accounts only)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo_code runs only with DEBUG on (the embedded demo).")
        device = (
            TotpDevice.objects.filter(user__email=options["email"].strip().lower(), confirmed=True)
            .select_related("user")
            .first()
        )
        if device is None or not device.user.is_demo:
            raise CommandError("demo_code works only for demo accounts created by seed_demo.")
        self.stdout.write(device.current_code())
