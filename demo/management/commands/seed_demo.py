"""``manage.py seed_demo``: a demo organisation and a few thousand customers to try."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from demo.reference_data import DEMO_PASSWORD, DEMO_PUBLIC_ID_PREFIX, STAFF
from demo.seeding import (
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    DemoState,
    ResetBlocked,
    demo_state,
    reset_demo,
    seed_demo,
)


class Command(BaseCommand):
    help = (
        "Create demo data: six stores in six cities, skills, contact-centre and store "
        "teams, staff (admin, manager, agents, store staff) and customers with Chinese "
        "and English names, identities, consents and a year of orders, returns, browsing, "
        "store visits and feedback. Does nothing when the demo data is already there, or "
        "when the database holds users, stores or teams with the demo names. Every demo "
        f"login uses the password {DEMO_PASSWORD!r}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers",
            type=int,
            default=DEFAULT_CUSTOMERS,
            metavar="N",
            help=f"How many customers to create (default {DEFAULT_CUSTOMERS}).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help="Random seed: the same seed gives the same people and histories.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help=(
                "First delete the demo data, then seed again. Deletes only what seed_demo "
                "created: the demo staff users (demo usernames with an "
                "@demo.omniservice.example address), the demo stores and teams (demo code "
                f"and name), customers whose public id starts with {DEMO_PUBLIC_ID_PREFIX} "
                "with their identities, events and consents, and customers merged into "
                "them. Skills and tags are kept. Asks for confirmation unless --no-input."
            ),
        )
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="With --reset: do not ask for confirmation.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        customers, verbosity = options["customers"], options["verbosity"]
        if customers < 0:
            raise CommandError("--customers must be 0 or more.")
        if options["reset"]:
            self._reset(interactive=options["interactive"], verbosity=verbosity)

        state, conflicts = demo_state()
        if state is DemoState.PRESENT:
            self.stdout.write("Demo data already present; nothing to do (--reset recreates it).")
            self._print_logins()
            return
        if state is DemoState.CONFLICT:
            self.stderr.write(
                self.style.WARNING(
                    "Not seeding: this database already holds "
                    + ", ".join(conflicts)
                    + ", not created by seed_demo. Seed a fresh database instead."
                )
            )
            return

        report = seed_demo(
            customers=customers,
            seed=options["seed"],
            now=timezone.now(),
            progress=self.stdout.write if verbosity >= 2 else None,
        )
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Seeded {report.stores} stores, {report.teams} teams, {report.skills} "
                    f"skills, {report.staff} staff and {report.customers} customers "
                    f"({report.identities} identities, {report.consents} consents, "
                    f"{report.events} events, {report.look_alike_pairs} look-alike pairs) "
                    f"and {report.tickets} tickets in {report.seconds:.1f} s."
                )
            )
            if report.skipped_identities:
                self.stdout.write(
                    f"{report.skipped_identities} identities were left out: other customers "
                    "in this database already own them."
                )
        self._print_logins()

    def _reset(self, *, interactive: bool, verbosity: int) -> None:
        if interactive:
            try:
                answer = input(
                    "This deletes the demo staff, stores, teams and customers (and whatever "
                    "was merged into them or recorded against them).\n"
                    "Type 'yes' to continue, or 'no' to cancel: "
                )
            except EOFError:
                answer = ""
            if answer != "yes":
                raise CommandError("Reset cancelled.")
        try:
            deleted = reset_demo()
        except ResetBlocked as exc:
            raise CommandError(str(exc)) from exc
        if verbosity >= 1:
            summary = ", ".join(f"{n} {label}" for label, n in sorted(deleted.items()) if n)
            self.stdout.write(f"Deleted the demo data: {summary or 'nothing to delete'}.")

    def _print_logins(self) -> None:
        self.stdout.write(f"Demo logins (password for every account: {DEMO_PASSWORD}):")
        for spec in STAFF:
            where = spec.home_store or ", ".join(spec.teams) or "-"
            self.stdout.write(
                f"  {spec.username:<10} {spec.role:<12} {'/'.join(spec.languages):<11} "
                f"{spec.display_name} ({where})"
            )
