from datetime import UTC, date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import User
from config.errors import KeyholdError
from integrations.services.tokens import api_token_create
from tenants.models import Client

DEFAULT_DAYS = 90


class Command(BaseCommand):
    help = "Create an API token for an integration, as an administrator; prints it once."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The integration, such as 'PSA sync'.")
        parser.add_argument("--scopes", required=True, help="Comma-separated, clients:read,…")
        parser.add_argument("--clients", default="", help="Comma-separated client slugs.")
        parser.add_argument(
            "--expires",
            help=(
                "YYYY-MM-DD: the token works through that day. Every token expires: when "
                f"omitted, {DEFAULT_DAYS} days from today; at most API_TOKEN_MAX_DAYS away."
            ),
        )
        parser.add_argument("--networks", default="", help="Comma-separated allowed CIDRs.")
        parser.add_argument("--actor", required=True, help="The administrator's email.")

    def handle(self, *args, **options):
        actor = User.objects.filter(email=options["actor"].strip().lower()).first()
        if actor is None or not actor.is_active:
            raise CommandError("No active staff member has that email.")
        slugs = _split(options["clients"])
        clients = list(Client.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {client.slug for client in clients})
        if missing:
            raise CommandError(f"Unknown client: {', '.join(missing)}.")
        try:
            token, plaintext = api_token_create(
                actor=actor,
                name=options["name"],
                scopes=_split(options["scopes"]),
                clients=clients,
                expires_at=_end_of_day(options["expires"] or _default_expiry()),
                allowed_networks=_split(options["networks"]),
            )
        except KeyholdError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"API token {token.name!r} ({token.prefix}…), expires "
            f"{token.expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC. It is shown only once:"
        )
        self.stdout.write(plaintext)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _default_expiry() -> str:
    return (timezone.localdate() + timedelta(days=DEFAULT_DAYS)).isoformat()


def _end_of_day(text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CommandError("Give the expiry as YYYY-MM-DD.") from None
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
