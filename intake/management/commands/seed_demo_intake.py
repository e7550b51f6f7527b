"""Demo onboarding for Woodgrove Clinic (after seed_demo): a draft intake with two entries,
one of them received by email, and a client intake link the contact has already answered,
waiting for review. Through the intake services, so everything is sealed and audited.
DEBUG only; does nothing when the clinic already has an intake."""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from intake.models import Intake, ReceivedVia
from intake.services.intakes import intake_draft_get_or_start, intake_entry_save
from intake.services.links import intake_link_create, intake_link_submit, intake_token_hash
from tenants.models import Client
from vault.models import Credential, CredentialType

ONBOARDED_BY = "olivia.onboarding@example.com"
CLIENT = "woodgrove-clinic"


class Command(BaseCommand):
    help = "Load the demo's onboarding (Woodgrove Clinic), idempotent. DEBUG only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo_intake runs only with DEBUG on.")
        olivia = User.objects.filter(email=ONBOARDED_BY).first()
        client = Client.objects.filter(slug=CLIENT).first()
        if olivia is None or client is None:
            raise CommandError("Run `python manage.py seed_demo` first.")
        if Intake.objects.filter(client=client).exists():
            self.stdout.write("Demo onboarding: already there.")
            return
        with transaction.atomic():
            draft = intake_draft_get_or_start(actor=olivia, client=client)
            intake_entry_save(
                actor=olivia,
                intake=draft,
                system_name="Clinic server",
                system_kind="server",
                credential_type=CredentialType.LOCAL_ADMIN,
                username="Administrator",
                access_method=Credential.AccessMethod.RDP,
                host="clinic-srv.woodgrove.local",
                rotation_unknown=True,
                received_via=ReceivedVia.PHONE,
                mfa_on_path=Credential.MfaOnPath.NO,
                secret=secrets.token_urlsafe(15),
            )
            intake_entry_save(
                actor=olivia,
                intake=draft,
                system_name="SonicWall",
                system_kind="firewall",
                credential_type=CredentialType.FIREWALL_ADMIN,
                username="admin",
                access_method=Credential.AccessMethod.WEB_PORTAL,
                host="https://192.168.168.168",
                rotation_unknown=True,
                received_via=ReceivedVia.EMAIL,
                mfa_on_path=Credential.MfaOnPath.NO,
                secret=secrets.token_urlsafe(15),
            )
            link, token = intake_link_create(
                actor=olivia,
                client=client,
                contact_name="Dr. Rosa Woodgrove (practice owner)",
                requests=[
                    {"system_name": "Practice management portal", "credential_type": ""},
                    {"system_name": "Office Wi-Fi", "credential_type": ""},
                ],
            )
            portal = link.requests.get(system_name="Practice management portal")
            intake_link_submit(
                actor=None,
                token_hash=intake_token_hash(token=token),
                values={
                    str(portal.pk): {
                        "username": "rosa.w",
                        "secret": secrets.token_urlsafe(15),
                        "url": "https://portal.example-pm.com",
                        "mfa_on_path": Credential.MfaOnPath.YES,
                    }
                },
                client_ip="127.0.0.1",
            )
        self.stdout.write(
            "Demo onboarding: Woodgrove Clinic has a draft intake and an answered intake link "
            f"(sign in as {ONBOARDED_BY})."
        )
