"""Re-encrypt every stored secret with the first key of XSELL_ENCRYPTION_KEYS.

Rotation: generate a key (``--generate``), put it FIRST in XSELL_ENCRYPTION_KEYS keeping the old
ones after it, deploy, run this command, then drop the old keys.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from xsell_plugin.core import crypto


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the first key of XSELL_ENCRYPTION_KEYS."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--generate", action="store_true",
                            help="print a new Fernet key and exit (nothing is changed)")

    def handle(self, *args, generate: bool = False, **options) -> None:
        if generate:
            self.stdout.write(Fernet.generate_key().decode())
            return
        with tqdm(desc="rotating secrets", unit="value", disable=None) as bar:
            report = crypto.rotate_all(on_progress=bar.update)
        self.stdout.write(
            f"rotated {report.rotated}, already on the current key {report.current}, "
            f"unreadable {len(report.unreadable)}"
        )
        if report.unreadable:
            raise CommandError(
                "These values cannot be decrypted with any key in XSELL_ENCRYPTION_KEYS "
                "(add the key they were written with): " + ", ".join(report.unreadable[:20])
            )
