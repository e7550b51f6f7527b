from django.core.management.base import BaseCommand, CommandError

from audit.verification import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain and the latest checkpoint. Exits 0 when intact; "
        "otherwise exits 1 naming the first bad event (and alerts the managers)."
    )

    def handle(self, *args, **options):
        result = audit_chain_verify(actor=None, job="manage.py audit_verify")
        if not result.ok:
            raise CommandError(result.summary)
        self.stdout.write(self.style.SUCCESS(result.summary))
