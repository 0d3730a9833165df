"""`manage.py xsell_serve` (what `make run` ends with): real web server + real qcluster worker,
on a private SQLite file; Ctrl-C stops both."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XSELL_", "DATABASE_URL", "REDIS_URL"))}
    env.update(XSELL_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    return env


def manage(env, *args, timeout=120):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=True)


def healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError("timed out")


def test_serve_runs_web_and_worker_and_stops_on_ctrl_c(env):
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-v", "0", "-c", "from xsell_plugin.stores.models import Store; "
           "Store.objects.create(platform='demo', domain='demo.test', name='Demo Test', status='active')")
    port = free_port()
    env["XSELL_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    # Started as a non-interactive shell starts a background job: SIGINT ignored, which the
    # web server and worker inherit. Ctrl-C on the command must still stop them promptly.
    server = subprocess.Popen([sys.executable, "manage.py", "xsell_serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        lines = []
        while not any(line.startswith("Admin:") for line in lines):
            line = server.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        admin = next(line for line in lines if line.startswith("Admin:")).split()[1]
        assert admin.startswith(f"http://127.0.0.1:{port}/app/?login=")

        wait_for(lambda: healthy(port))
        session = requests.Session()
        page = session.get(admin, timeout=5)
        assert page.status_code == 200 and "Demo Test" in page.text

        # the worker consumes the queue: a task that fails on purpose is recorded as failed
        manage(env, "shell", "-v", "0", "-c", "from django_q.tasks import async_task; "
               "async_task('math.sqrt', -1, task_name='serve-check')")
        check = ("from django_q.models import Failure; "
                 "print(Failure.objects.filter(name='serve-check').count())")
        wait_for(lambda: manage(env, "shell", "-v", "0", "-c", check).stdout.strip() == "1", timeout=90)

        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=15) == 0  # well before the 20 s kill deadline
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # web server gone
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)  # the web server and worker too, never orphans
            server.wait()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_serve_leaves_no_server_or_worker_behind(env):
    manage(env, "migrate", "--noinput")
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "xsell_serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        wait_for(lambda: healthy(port))
        with open(f"/proc/{server.pid}/task/{server.pid}/children") as f:
            children = [int(pid) for pid in f.read().split()]
        assert len(children) == 2
        server.kill()  # SIGKILL: no chance to clean up
        server.wait()
        wait_for(lambda: not any(alive(pid) for pid in children), timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


def test_serve_refuses_a_busy_port(env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "manage.py", "xsell_serve", "--port", str(port)],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"127.0.0.1:{port} is not free" in result.stderr
