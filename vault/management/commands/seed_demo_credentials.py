"""Demo credentials for the embedded demo's clients (after seed_demo). DEBUG only."""

import base64
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from tenants.models import Client, System
from vault import generator
from vault.models import ClientVaultPolicy, Credential
from vault.services import credential_create
from vault.services.checkouts import client_vault_policy_update

SEEDED_BY = "ada.admin@example.com"

# (client slug, name, type, username, access method, host, system name or None, tags)
CREDENTIALS = [
    (
        "contoso-dental",
        "Domain admin",
        "domain_admin",
        "CONTOSO\\kh-admin",
        "rdp",
        "dc01.contoso.local",
        "DC01",
        ["ad"],
    ),
    (
        "contoso-dental",
        "FortiGate admin",
        "firewall_admin",
        "admin",
        "web_portal",
        "https://10.10.0.1:8443",
        "FortiGate 60F",
        ["network"],
    ),
    (
        "contoso-dental",
        "Dentrix service account",
        "service_account",
        "svc_dentrix",
        "console",
        "",
        "Dentrix",
        ["app"],
    ),
    ("contoso-dental", "Front desk PC", "standard_user", "frontdesk", "rdp", "", None, []),
    (
        "fabrikam-logistics",
        "File server local admin",
        "local_admin",
        "Administrator",
        "rdp",
        "fs01.fabrikam.local",
        "FS01",
        [],
    ),
    ("fabrikam-logistics", "Warehouse Wi-Fi", "standard_user", "", "other", "", None, ["wifi"]),
    (
        "northwind-legal",
        "Clio API key",
        "api_key",
        "northwind-integration",
        "api",
        "https://app.clio.com",
        "Clio",
        ["app"],
    ),
    (
        "northwind-legal",
        "Reception PC",
        "standard_user",
        "reception",
        "console",
        "",
        "Reception PC",
        [],
    ),
    (
        "tailspin-architects",
        "NAS admin",
        "local_admin",
        "admin",
        "web_portal",
        "https://nas.tailspin.local:5001",
        "NAS",
        [],
    ),
    (
        "woodgrove-clinic",
        "SonicWall admin",
        "firewall_admin",
        "admin",
        "web_portal",
        "https://192.168.1.1",
        "SonicWall",
        ["network"],
    ),
]


# (client slug, name, type, username, host): sealed, opened only with break glass and an alert.
EMERGENCY = [
    (
        "contoso-dental",
        "Break-glass global admin",
        "cloud_tenant_admin",
        "breakglass@contosodental.onmicrosoft.com",
        "https://portal.azure.com",
    ),
]

# (client slug, name, username, host): a live TOTP code is shown beside these.
WITH_TOTP = [
    ("fabrikam-logistics", "Microsoft 365 helpdesk", "helpdesk@fabrikam.example", ""),
]

# Last rotated long ago, so the demo has rotation work due (rotation_due_scan opens the tasks).
OVERDUE = {
    ("contoso-dental", "FortiGate admin"): timezone.now() - timedelta(days=120),
    ("fabrikam-logistics", "File server local admin"): timezone.now() - timedelta(days=95),
}

# Contoso Dental asks for a manager's approval of every checkout and a ticket on reveals.
STRICT_CLIENT = "contoso-dental"


class Command(BaseCommand):
    help = "Add demo credentials to the demo clients (idempotent). DEBUG only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo_credentials runs only with DEBUG on (demo data).")
        actor = User.objects.filter(email=SEEDED_BY).first()
        if actor is None:
            raise CommandError("Run `python manage.py seed_demo` first.")
        created = 0
        with transaction.atomic():
            for slug, name, kind, username, method, host, system_name, tags in CREDENTIALS:
                client = Client.objects.filter(slug=slug).first()
                if client is None or Credential.objects.filter(client=client, name=name).exists():
                    continue
                system = (
                    System.objects.filter(client=client, name=system_name).first()
                    if system_name
                    else None
                )
                credential_create(
                    actor=actor,
                    client=client,
                    name=name,
                    credential_type=kind,
                    secret=generator.password_generate(length=20),
                    username=username,
                    access_method=method,
                    host=host,
                    system=system,
                    rotation_interval_days=90,
                    last_rotated_at=OVERDUE.get((slug, name)),
                    tags=tags,
                )
                created += 1
            for slug, name, kind, username, host in EMERGENCY:
                client = Client.objects.filter(slug=slug).first()
                if client is None or Credential.objects.filter(client=client, name=name).exists():
                    continue
                credential_create(
                    actor=actor,
                    client=client,
                    name=name,
                    credential_type=kind,
                    secret=generator.password_generate(length=24),
                    username=username,
                    access_method="web_portal",
                    host=host,
                    is_emergency=True,
                    mfa_on_path="no",
                )
                created += 1
            for slug, name, username, host in WITH_TOTP:
                client = Client.objects.filter(slug=slug).first()
                if client is None or Credential.objects.filter(client=client, name=name).exists():
                    continue
                credential_create(
                    actor=actor,
                    client=client,
                    name=name,
                    credential_type="standard_user",
                    secret=generator.password_generate(length=20),
                    username=username,
                    access_method="web_portal",
                    host=host,
                    totp_seed=base64.b32encode(secrets.token_bytes(20)).decode(),
                    mfa_on_path="yes",
                )
                created += 1
            strict = Client.objects.filter(slug=STRICT_CLIENT).first()
            if strict is not None and not ClientVaultPolicy.objects.filter(client=strict).exists():
                client_vault_policy_update(
                    actor=actor,
                    client=strict,
                    reveal_ticket_required=True,
                    checkout_approval_required=True,
                    checkout_default_minutes=60,
                    checkout_max_minutes=240,
                )
        self.stdout.write(f"Demo credentials: {created} added.")
