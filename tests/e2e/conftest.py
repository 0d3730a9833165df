"""The admin in a real browser (issue 9): Playwright drives Debian's chromium (/usr/bin/chromium,
installed by .ci/run; never ``playwright install``) against the running app with the demo store.

Once for the package: a fresh database (a SQLite file in a temporary folder; on PostgreSQL runs,
when DATABASE_URL is set, a database named after XSELL_TEST_DATABASE_NAME, dropped afterwards),
``migrate`` + ``xsell_demo`` + the seed (default sequences, one incentive) in a subprocess
(``tests/e2e/seed.py``), the
app served by ``manage.py runserver`` on a free loopback port (static files through WhiteNoise,
as in production; XSELL_DEBUG off), a loopback SMTP server (aiosmtpd) for the test sends, and one
browser. Each test gets a new browser context, logged in through the signed login link.

Screenshots of every scenario, desktop and mobile, go to ``<XSELL_VAR_DIR or var>/e2e-artifacts``.
Without /usr/bin/chromium the tests are skipped, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
MOBILE = {"width": 375, "height": 812}
SHOPIFY_API_KEY = "e2e_api_key"
# A slice of the demo store keeps the setup under ten seconds; XSELL_E2E_DEMO_HOUSEHOLDS=all loads
# the whole committed sample.
DEMO_HOUSEHOLDS = os.environ.get("XSELL_E2E_DEMO_HOUSEHOLDS", "80")


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install chromium (CI installs it)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def var_dir() -> Path:
    return Path(os.environ.get("XSELL_VAR_DIR") or ROOT / "var")


# Database ---------------------------------------------------------------------------------------
class E2EDatabase:
    """A database of its own: a SQLite file in a temporary folder, or (DATABASE_URL set) a
    PostgreSQL database named ``<XSELL_TEST_DATABASE_NAME or test_xsell>_e2e_<pid>``, created
    here and dropped by ``drop()``."""

    def __init__(self, folder: Path) -> None:
        self.server_url = os.environ.get("DATABASE_URL", "")
        if self.server_url.startswith(("postgres://", "postgresql://")):
            base = os.environ.get("XSELL_TEST_DATABASE_NAME") or "test_xsell"
            self.name = f"{base}_e2e_{os.getpid()}"[:63]
            parts = urlsplit(self.server_url)
            self.url = parts._replace(path=f"/{quote(self.name)}").geturl()
            self.engine = "postgres"
        else:
            self.name = str(folder / "e2e.sqlite3")
            self.url = f"sqlite:///{self.name}"
            self.engine = "sqlite"

    def _admin(self):
        import psycopg

        return psycopg.connect(self.server_url.replace("postgres://", "postgresql://", 1), autocommit=True)

    def create(self) -> E2EDatabase:
        if self.engine == "postgres":
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        if self.engine == "postgres":
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# SMTP -------------------------------------------------------------------------------------------
@dataclass
class Mailbox:
    """What the loopback SMTP server accepted."""

    raw: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.raw.append(envelope.content)
        return "250 OK"

    def messages(self) -> list[email.message.EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(r, policy=default_policy) for r in self.raw]

    def wait_for(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if predicate(m)]
            if found:
                return found
            time.sleep(0.1)
        subjects = [m["Subject"] for m in self.messages()]
        raise AssertionError(f"no such message within {timeout}s; received: {subjects}")


@pytest.fixture(scope="package")
def smtp():
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


# The app ----------------------------------------------------------------------------------------
@dataclass
class App:
    base_url: str
    env: dict[str, str]
    artifacts: Path
    process: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)
    _login: str = ""

    def manage(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def python(self, *args: str) -> str:
        """``python -m <args>`` in the server's environment (its database)."""
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise AssertionError(f"python -m {' '.join(args)} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def login_url(self) -> str:
        """The signed login link ``xsell_login_link`` prints (valid 12 hours: made once)."""
        if not self._login:
            link = self.manage("xsell_login_link").strip().splitlines()[-1]
            assert link.startswith(f"{self.base_url}/app/?login="), link
            self._login = link
        return self._login

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the server stopped (exit {process.returncode}):\n{out[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


@pytest.fixture(scope="package")
def app(smtp):
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="xsell-e2e-"))
    database = E2EDatabase(folder).create()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "XSELL_TEST_DATABASE_NAME", "XSELL_QUEUE_NAME",
                        "PYTEST_CURRENT_TEST")}
    env.update(
        DATABASE_URL=database.url, XSELL_ENV="development", XSELL_DEBUG="false",
        XSELL_PUBLIC_URL=base_url, XSELL_ALLOW_LOOPBACK_HTTP="true", XSELL_VAR_DIR=str(folder / "var"),
        XSELL_QUEUE_NAME=f"xsell-e2e-{os.getpid()}", XSELL_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1",
        XSELL_SHOPIFY_API_KEY=SHOPIFY_API_KEY, XSELL_SHOPIFY_API_SECRET="e2e-secret-" + "x" * 32,
        # Nothing may reach a real shop: every platform call goes to a closed loopback port.
        XSELL_SHOPIFY_ADMIN_BASE_URL="http://127.0.0.1:9",
    )
    artifacts = var_dir() / "e2e-artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    app = App(base_url=base_url, env=env, artifacts=artifacts)
    try:
        prepared = json.loads(app.python("tests.e2e.seed", "prepare", DEMO_HOUSEHOLDS))
        app._login = prepared["login_url"]
        app.timings["data"] = time.monotonic() - started
        app.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        _wait_http(f"{base_url}/healthz", app.process)
        app.timings["serving"] = time.monotonic() - started
        yield app
    finally:
        if app.process is not None and app.process.poll() is None:
            os.killpg(app.process.pid, signal.SIGTERM)
            try:
                app.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(app.process.pid, signal.SIGKILL)
                app.process.wait(10)
        database.drop()
        shutil.rmtree(folder, ignore_errors=True)


# The browser ------------------------------------------------------------------------------------
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (user-data dir), removed on close.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser, app):
    context = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="America/New_York")
    context.set_default_timeout(15_000)
    # Nothing leaves the machine: App Bridge's CDN is not reachable (tests that need it stub it).
    context.route("https://cdn.shopify.com/**", lambda route: route.abort())
    yield context
    context.close()


@pytest.fixture
def page(context, app):
    """A page logged in through the signed login link, on the overview."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app.login_url())
    page.wait_for_selector("html[data-ready='true']")
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


def goto(page, app, route: str) -> None:
    """Open an admin route (#/...) and wait until its page has rendered."""
    target = app.url(f"/app/#/{route}")
    if page.url == target:
        page.reload()  # the same hash would not navigate
    else:
        page.evaluate("() => { delete document.getElementById('main').dataset.rendered; }")
        page.goto(target)
    page.wait_for_selector(f"main[data-rendered='#/{route}']")


def shoot(page, app, name: str) -> None:
    """Screenshots of the page as it is: desktop (full page), then at 375 px wide."""
    page.wait_for_load_state("networkidle")
    page.evaluate("() => window.scrollTo(0, 0)")  # a sticky header stays on top of a full-page shot
    page.screenshot(path=str(app.artifacts / f"{name}-desktop.png"), full_page=True)
    size = page.viewport_size
    page.set_viewport_size(MOBILE)
    page.wait_for_timeout(200)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(app.artifacts / f"{name}-mobile.png"), full_page=True)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    page.set_viewport_size(size)
    assert overflow <= 1, f"{name}: the page is {overflow}px wider than a 375px screen"


def csrf(page) -> str:
    return page.get_attribute('meta[name="csrf-token"]', "content")


def api(page, app, method: str, path: str, body=None):
    """The admin API with the page's session (and CSRF token on writes)."""
    headers = {"X-CSRFToken": csrf(page)} if method != "GET" else {}
    response = page.request.fetch(app.url(f"/api/v1/{path}"), method=method, data=body, headers=headers)
    assert response.ok, f"{method} {path}: {response.status} {response.text()[:500]}"
    return response.json() if response.status != 204 else None
