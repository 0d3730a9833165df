from django.core.management.base import BaseCommand, CommandError

from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.dashboard.selectors import login_url


class Command(BaseCommand):
    help = "Print a signed link (valid 12 hours) that opens the admin for a store."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--store", dest="domain", help="the store's domain (default: the demo store)")

    def handle(self, *args, domain=None, **options) -> None:
        try:
            self.stdout.write(login_url(domain=domain))
        except NotFound as exc:
            raise CommandError(exc.message) from None
