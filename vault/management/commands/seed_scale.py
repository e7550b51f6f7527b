"""Seed an empty PostgreSQL database with an MSP at benchmark scale (issue 9); vault/scale.py.

    createdb -h 127.0.0.1 -U postgres keyhold_scale
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/keyhold_scale \\
        DJANGO_SETTINGS_MODULE=config.settings.development
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_scale

The application that serves the data set must use the same key provider (the same keyring
file with the local provider): the client data keys are wrapped by it.
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit.management.commands.seed_audit_scale import BENCH_MANAGER_EMAIL, BENCH_TECHNICIAN_EMAIL
from vault.scale import (
    BENCH_PASSWORD,
    SEARCH_COMMON_TERM,
    SEARCH_RARE_TERM,
    existing_rows,
    manifest_write,
    scale_guard,
    seed_scale,
)


class Command(BaseCommand):
    help = (
        "Seed an empty PostgreSQL database with an MSP at scale (clients, staff, systems, "
        "encrypted credentials, rotation tasks, a year of chained audit events) for the "
        "benchmark. Never run it on a production database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=5_000)
        parser.add_argument("--credentials", type=int, default=500_000)
        parser.add_argument("--systems", type=int, default=20_000)
        parser.add_argument("--staff", type=int, default=300)
        parser.add_argument(
            "--tech-clients",
            type=int,
            default=200,
            help="Clients the benchmark technician is assigned to.",
        )
        parser.add_argument("--events", type=int, default=5_000_000)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument("--seed", type=int, default=2026, help="Random seed.")
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="Processes that build audit events; 0 builds them in this process.",
        )
        parser.add_argument(
            "--chunk-rows", type=int, default=100_000, help="Audit events per COPY and commit."
        )
        parser.add_argument(
            "--manifest",
            type=Path,
            default=None,
            help="Where to write the JSON of logins, terms and figures "
            "(default var/scale/<database>.json).",
        )

    def handle(self, *args, **options):
        for name in ("clients", "credentials", "staff", "tech_clients", "events", "months"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        if options["staff"] < 3:
            raise CommandError("--staff must be at least 3 (a technician, a manager, an auditor).")
        if options["credentials"] < options["clients"]:
            raise CommandError("--credentials must be at least --clients (one for each client).")
        if options["systems"] < 0:
            raise CommandError("--systems cannot be negative.")
        if options["tech_clients"] > options["clients"]:
            raise CommandError("--tech-clients cannot exceed --clients.")
        connection.ensure_connection()
        scale_guard(
            settings_dict=connection.settings_dict,
            existing=existing_rows() if connection.vendor == "postgresql" else {},
        )
        report = seed_scale(
            clients=options["clients"],
            credentials=options["credentials"],
            systems=options["systems"],
            staff=options["staff"],
            tech_clients=options["tech_clients"],
            events=options["events"],
            months=options["months"],
            seed=options["seed"],
            workers=max(options["workers"], 0),
            chunk_rows=max(options["chunk_rows"], 1000),
            out=self.stdout.write,
        )
        manifest = options["manifest"] or (
            Path(settings.VAR_DIR) / "scale" / f"{connection.settings_dict['NAME']}.json"
        )
        sizes = ("clients", "credentials", "systems", "staff", "tech_clients", "events", "months")
        manifest_write(
            manifest,
            report=report,
            options={name: options[name] for name in (*sizes, "seed")},
        )
        write = self.stdout.write
        write("")
        write("Rows:")
        for table, rows in report.rows.items():
            write(f"  {table:<24} {rows:>12,}")
        write("Seconds:")
        for step, seconds in report.seconds.items():
            write(f"  {step:<40} {seconds:>8.1f}")
        write(
            f"Due within the lead time: {report.due:,}; without an open task yet (the next "
            f"rotation_due_scan opens them): {report.due_without_task:,}."
        )
        write(
            f"Search terms: common {SEARCH_COMMON_TERM!r} ({report.common_matches:,} "
            f"credentials), rare {SEARCH_RARE_TERM!r} ({report.rare_matches:,}, "
            f"{report.rare_visible_to_technician} of them visible to the technician)."
        )
        write(
            self.style.SUCCESS(
                f"Benchmark logins (password {BENCH_PASSWORD}; the TOTP code is "
                "TotpDevice.current_code() of their confirmed device):"
            )
        )
        write(f"  technician  {BENCH_TECHNICIAN_EMAIL}  ({options['tech_clients']} clients)")
        write(f"  manager     {BENCH_MANAGER_EMAIL}  (every client)")
        write(f"Manifest: {manifest}")
