"""Invalid settings stop startup with a message naming the variable (real process start)."""

import os
import subprocess
import sys
from pathlib import Path

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from xsell_plugin.core import config

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "oQ8DKzHJ_xYgWhY4iatmcBbAUcLkaH9Wo08haH3xMH8="
PRODUCTION = {
    "XSELL_ENV": "production",
    "XSELL_SECRET_KEY": "p" * 20 + "-production-secret-" + "q" * 20,
    "XSELL_ENCRYPTION_KEYS": GOOD_KEY,
    "XSELL_PUBLIC_URL": "https://xsell.example.com",
}
_OURS = ("XSELL_", "DATABASE_URL", "REDIS_URL")


def start(**overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env["XSELL_VAR_DIR"] = os.environ.get("XSELL_VAR_DIR", str(ROOT / "var"))
    env.update(overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "variable"), [
    ({"XSELL_ENV": "production"}, "XSELL_SECRET_KEY"),
    ({**PRODUCTION, "XSELL_SECRET_KEY": "short"}, "XSELL_SECRET_KEY"),
    ({**PRODUCTION, "XSELL_ENCRYPTION_KEYS": ""}, "XSELL_ENCRYPTION_KEYS"),
    ({"XSELL_ENCRYPTION_KEYS": "not-a-fernet-key"}, "XSELL_ENCRYPTION_KEYS"),
    ({"XSELL_ENCRYPTION_KEYS": f"{GOOD_KEY},broken"}, "XSELL_ENCRYPTION_KEYS"),
    ({**PRODUCTION, "XSELL_ENCRYPTION_KEYS": config.DEV_ENCRYPTION_KEY}, "XSELL_ENCRYPTION_KEYS"),
    ({"DATABASE_URL": "mysql://root@localhost/xsell"}, "DATABASE_URL"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
    ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
    ({**PRODUCTION, "XSELL_PUBLIC_URL": "http://xsell.example.com"}, "XSELL_PUBLIC_URL"),
    ({"XSELL_ENV": "staging"}, "XSELL_ENV"),
    ({"XSELL_DEBUG": "maybe"}, "XSELL_DEBUG"),
    ({"XSELL_Q_WORKERS": "0"}, "XSELL_Q_WORKERS"),
    ({"XSELL_HOLDOUT_SHARE": "0.6"}, "XSELL_HOLDOUT_SHARE"),
    ({"XSELL_HOLDOUT_SHARE": "ten percent"}, "XSELL_HOLDOUT_SHARE"),
])
def test_bad_setting_stops_startup_naming_the_variable(overrides, variable):
    result = start(**overrides)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"xsell: configuration error: {variable}:"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_valid_production_settings_start_and_pass_deploy_checks():
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(PRODUCTION, DATABASE_URL="postgres://xsell@db.internal:5432/xsell")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def env_with(monkeypatch, **values: str) -> environ.Env:
    for name in ("DATABASE_URL", "REDIS_URL", "XSELL_TEST_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return environ.Env()


def test_database_defaults_to_sqlite_under_var(monkeypatch, tmp_path):
    db = config.database(env_with(monkeypatch), tmp_path / "var")
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "var" / "xsell.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_postgres_url_and_private_test_database(monkeypatch, tmp_path):
    env = env_with(monkeypatch, DATABASE_URL="postgres://u:p@db:5433/shop",
                   XSELL_TEST_DATABASE_NAME="xsell_ci_123")
    db = config.database(env, tmp_path)
    assert (db["ENGINE"], db["NAME"], db["HOST"], db["PORT"], db["USER"]) == (
        "django.db.backends.postgresql", "shop", "db", 5433, "u")
    assert db["TEST"] == {"NAME": "xsell_ci_123"}


def test_redis_url_with_bad_port(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match=r"^REDIS_URL"):
        config.redis_url(env_with(monkeypatch, REDIS_URL="redis://host:notaport/0"))


def test_public_url_is_normalised_to_an_origin(monkeypatch):
    env = env_with(monkeypatch, XSELL_PUBLIC_URL="https://app.example.com/")
    assert config.public_url(env, production=True) == "https://app.example.com"
    env = env_with(monkeypatch, XSELL_PUBLIC_URL="https://app.example.com/sub")
    with pytest.raises(ImproperlyConfigured, match=r"^XSELL_PUBLIC_URL"):
        config.public_url(env, production=True)


def test_q_cluster_is_safe(settings):
    q = settings.Q_CLUSTER
    assert q["timeout"] < q["retry"]
    assert q["retry"] >= 2 * q["timeout"] + 60
    assert 0 < q["max_attempts"] < 10
    assert q["catch_up"] is False
    assert (q["save_limit"], q["bulk"], q["queue_limit"]) == (-1, 1, q["workers"])
    assert ("redis" in q) == bool(os.environ.get("REDIS_URL"))
    assert ("orm" in q) != ("redis" in q)
