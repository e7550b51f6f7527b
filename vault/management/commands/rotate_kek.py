from django.core.management.base import BaseCommand, CommandError

from vault.providers import KeyProviderError
from vault.services import kek_rotate, kek_rotation_remaining


class Command(BaseCommand):
    help = (
        "Rewrap every client data key under the key provider's current KEK version. No "
        "ciphertext is touched. Safe to interrupt and run again: it resumes where it stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Keys per transaction.")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            rewrapped = kek_rotate(
                actor=None,
                batch_size=options["batch_size"],
                on_batch=lambda done, pending: self.stdout.write(
                    f"  rewrapped {done} of {pending} data key(s)"
                ),
            )
            remaining = kek_rotation_remaining()
        except KeyProviderError as error:
            raise CommandError(
                f"The key provider failed: {error}. Nothing was lost; keys already rewrapped "
                "stay rewrapped. Fix the provider and run rotate_kek again to resume."
            ) from None
        self.stdout.write(f"Rewrapped {rewrapped} data key(s); {remaining} left on an older KEK.")
        if remaining:
            raise CommandError(f"{remaining} data key(s) still need rewrapping: run it again.")
        self.stdout.write(self.style.SUCCESS("Every data key is wrapped under the current KEK."))
