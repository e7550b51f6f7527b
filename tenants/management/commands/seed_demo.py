"""Demo data for the embedded default: one MSP, two staff of each role, five clients."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role, User
from accounts.services import demo_staff_member_create
from tenants.models import AccessLevel, Client, System
from tenants.services import (
    assignment_grant,
    client_create,
    client_primary_technician_set,
    system_create,
)

DEMO_PASSWORD = "keyhold-demo-pass"  # noqa: S105 (printed on purpose; demo accounts only)

STAFF = [
    ("tina.tech@example.com", "Tina Nguyen", Role.TECHNICIAN),
    ("tom.tech@example.com", "Tom Becker", Role.TECHNICIAN),
    ("maria.manager@example.com", "Maria Lopez", Role.MANAGER),
    ("mark.manager@example.com", "Mark Osei", Role.MANAGER),
    ("olivia.onboarding@example.com", "Olivia Park", Role.ONBOARDING),
    ("owen.onboarding@example.com", "Owen Fischer", Role.ONBOARDING),
    ("ada.admin@example.com", "Ada Kowalski", Role.ADMINISTRATOR),
    ("arthur.admin@example.com", "Arthur Dubois", Role.ADMINISTRATOR),
    ("uma.auditor@example.com", "Uma Reddy", Role.AUDITOR),
    ("ulrich.auditor@example.com", "Ulrich Berg", Role.AUDITOR),
]

CLIENTS = [
    (
        "Contoso Dental",
        "contoso-dental",
        Client.Status.ACTIVE,
        "America/New_York",
        [
            ("DC01", System.Kind.SERVER),
            ("FortiGate 60F", System.Kind.FIREWALL),
            ("Microsoft 365", System.Kind.CLOUD_TENANT),
            ("Dentrix", System.Kind.APPLICATION),
        ],
    ),
    (
        "Fabrikam Logistics",
        "fabrikam-logistics",
        Client.Status.ACTIVE,
        "America/Chicago",
        [
            ("FS01", System.Kind.SERVER),
            ("Meraki MX", System.Kind.FIREWALL),
            ("Core switch", System.Kind.NETWORK_DEVICE),
            ("Azure tenant", System.Kind.CLOUD_TENANT),
        ],
    ),
    (
        "Northwind Legal",
        "northwind-legal",
        Client.Status.ACTIVE,
        "Europe/London",
        [
            ("NW-DC1", System.Kind.SERVER),
            ("Clio", System.Kind.APPLICATION),
            ("Reception PC", System.Kind.WORKSTATION),
        ],
    ),
    (
        "Tailspin Architects",
        "tailspin-architects",
        Client.Status.ACTIVE,
        "Europe/Berlin",
        [
            ("NAS", System.Kind.SERVER),
            ("pfSense", System.Kind.FIREWALL),
            ("Google Workspace", System.Kind.CLOUD_TENANT),
        ],
    ),
    (
        "Woodgrove Clinic",
        "woodgrove-clinic",
        Client.Status.ONBOARDING,
        "America/Denver",
        [("Clinic server", System.Kind.SERVER), ("SonicWall", System.Kind.FIREWALL)],
    ),
]

# (email, client slug, level): the technicians see some clients, never all.
ASSIGNMENTS = [
    ("tina.tech@example.com", "contoso-dental", AccessLevel.PRIVILEGED),
    ("tina.tech@example.com", "fabrikam-logistics", AccessLevel.USE),
    ("tom.tech@example.com", "northwind-legal", AccessLevel.PRIVILEGED),
    ("tom.tech@example.com", "tailspin-architects", AccessLevel.USE),
    ("tom.tech@example.com", "contoso-dental", AccessLevel.VIEW),
    ("olivia.onboarding@example.com", "woodgrove-clinic", AccessLevel.MANAGE),
    ("owen.onboarding@example.com", "woodgrove-clinic", AccessLevel.USE),
]
EVERY_CLIENT = {
    Role.MANAGER: AccessLevel.MANAGE,
    Role.ADMINISTRATOR: AccessLevel.MANAGE,
    Role.AUDITOR: AccessLevel.VIEW,
}


# (client slug, email): who owns each client's rotation tasks; the others go to the managers.
PRIMARY_TECHNICIANS = [
    ("contoso-dental", "tina.tech@example.com"),
    ("northwind-legal", "tom.tech@example.com"),
]


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins. DEBUG only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_demo runs only with DEBUG on: it creates known passwords.")
        with transaction.atomic():
            users = self._staff()
            clients = self._clients(created_by=users["ada.admin@example.com"])
            for email, slug, level in ASSIGNMENTS:
                assignment_grant(actor=None, client=clients[slug], user=users[email], level=level)
            for email, _, role in STAFF:
                if role in EVERY_CLIENT:
                    for client in clients.values():
                        assignment_grant(
                            actor=None, client=client, user=users[email], level=EVERY_CLIENT[role]
                        )
            for slug, email in PRIMARY_TECHNICIANS:
                client = clients[slug]
                if client.primary_technician_id is None:
                    client_primary_technician_set(
                        actor=users["maria.manager@example.com"],
                        client=client,
                        technician=users[email],
                    )
        self._print_logins()

    def _staff(self) -> dict[str, User]:
        users = {}
        for email, name, role in STAFF:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = demo_staff_member_create(
                    actor=None, email=email, full_name=name, roles=[role], password=DEMO_PASSWORD
                )
            users[email] = user
        return users

    def _clients(self, *, created_by: User) -> dict[str, Client]:
        clients = {}
        for name, slug, status, time_zone, systems in CLIENTS:
            client = Client.objects.filter(slug=slug).first()
            if client is None:
                client = client_create(
                    actor=created_by,
                    name=name,
                    slug=slug,
                    status=status,
                    business_time_zone=time_zone,
                )
                for system_name, kind in systems:
                    system_create(actor=created_by, client=client, name=system_name, kind=kind)
            clients[slug] = client
        return clients

    def _print_logins(self) -> None:
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(f"Keyhold demo logins (password for all: {DEMO_PASSWORD})")
        )
        for email, name, role in STAFF:
            self.stdout.write(f"  {role:<14} {email:<32} {name}")
        self.stdout.write("")
        self.stdout.write("Two-step code for any of them: python manage.py demo_code EMAIL")
        self.stdout.write("Open http://localhost:8000 (use localhost, not 127.0.0.1).")
