from django.core.management.base import BaseCommand

from rotation.services.tasks import rotation_due_scan


class Command(BaseCommand):
    help = (
        "Open rotation tasks now for credentials coming due and for credentials the vault "
        "marked (ended checkouts, broken seals), as the hourly job does. Safe to run any time."
    )

    def handle(self, *args, **options):
        opened = rotation_due_scan(actor=None)
        self.stdout.write(f"Rotation tasks opened or joined: {opened}.")
