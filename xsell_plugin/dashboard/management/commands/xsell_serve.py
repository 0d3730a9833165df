"""Serve the web app and a qcluster worker together; Ctrl-C stops both.

For local use and the demo (Django's server). In production run the web processes under a WSGI
server and ``manage.py qcluster`` separately (see the README).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.dashboard.selectors import login_url

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this command dies, even by SIGKILL (Linux), so a killed
    `make run` never leaves a web server or worker behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Serve web + a qcluster worker on 127.0.0.1 (Ctrl-C stops both)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise CommandError(f"{host}:{port} is not free ({exc.strerror}); use --port") from None
        children = [
            subprocess.Popen(  # noqa: S603 - our own manage.py
                [sys.executable, MANAGE, "qcluster"], preexec_fn=_die_with_parent),
            subprocess.Popen(  # noqa: S603 - our own manage.py
                [sys.executable, MANAGE, "runserver", f"{host}:{port}", "--noreload"],
                preexec_fn=_die_with_parent),
        ]
        try:
            link = login_url()
        except NotFound as exc:
            link = exc.message
        self.stdout.write(f"xsell is serving on http://{host}:{port}/ (health: /healthz)")
        self.stdout.write(f"Admin: {link}")
        self.stdout.write("Press Ctrl-C to stop the web server and the worker.")
        self.stdout.flush()

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        failed = None
        while not stopping and failed is None:
            failed = next((c for c in children if c.poll() is not None), None)
            time.sleep(0.2)
        for child in children:
            if child.poll() is None:
                # SIGTERM, not SIGINT: a child started from a non-interactive shell may inherit
                # SIGINT as ignored; both runserver and qcluster stop cleanly on SIGTERM.
                child.terminate()
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if failed is not None and not stopping:
            raise CommandError(f"{' '.join(failed.args[2:3])} stopped (exit {failed.returncode})")
        self.stdout.write("Stopped.")
