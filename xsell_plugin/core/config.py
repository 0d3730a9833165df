"""Validation of settings read from the environment.

Every function reads one variable and either returns a clean value or raises
``ImproperlyConfigured`` whose message starts with the variable's name, so a bad deployment stops
at startup with a message an operator can act on.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

# Development-only values. They are public (they are in this file), so production refuses them.
DEV_SECRET_KEY = "django-insecure-xsell-development-only-secret-key-do-not-deploy"  # noqa: S105
DEV_ENCRYPTION_KEY = "cX-G99-KfrldmtMWH3s7snLTKFzgk4oqQ2x_aseHCFQ="

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "postgis"}


def _fail(name: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}: {problem}")


def choice(env: environ.Env, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.str(name, default=default).strip().lower()
    if value not in allowed:
        raise _fail(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def boolean(env: environ.Env, name: str, *, default: bool) -> bool:
    raw = env.str(name, default="").strip().lower()
    if raw == "" and name not in env.ENVIRON:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise _fail(name, f"must be true or false, got {raw!r}")


def positive_int(env: environ.Env, name: str, *, default: int) -> int:
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise _fail(name, f"must be a whole number, got {raw!r}") from None
    if value < 1:
        raise _fail(name, f"must be at least 1, got {value}")
    return value


def positive_float(env: environ.Env, name: str, *, default: float) -> float:
    raw = env.str(name, default=str(default)).strip()
    try:
        value = float(raw)
    except ValueError:
        raise _fail(name, f"must be a number, got {raw!r}") from None
    if value <= 0:
        raise _fail(name, f"must be greater than 0, got {value}")
    return value


def share(env: environ.Env, name: str, *, default: str, maximum: str) -> Decimal:
    """A share such as ``0.10``, between 0 and ``maximum``."""
    raw = env.str(name, default=default).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _fail(name, f"must be a number like 0.10, got {raw!r}") from None
    if not Decimal(0) <= value <= Decimal(maximum):
        raise _fail(name, f"must be between 0 and {maximum}, got {raw}")
    return value


def secret_key(env: environ.Env, *, production: bool) -> str:
    value = env.str("XSELL_SECRET_KEY", default="")
    if not value:
        if production:
            raise _fail("XSELL_SECRET_KEY", "is required when XSELL_ENV=production")
        return DEV_SECRET_KEY
    if production and (value == DEV_SECRET_KEY or len(value) < 40):
        raise _fail("XSELL_SECRET_KEY", "must be a private random value of 40+ characters")
    return value


def encryption_keys(env: environ.Env, *, production: bool) -> list[str]:
    """Fernet keys, comma-separated; the first encrypts, all decrypt (rotation)."""
    raw = env.str("XSELL_ENCRYPTION_KEYS", default="")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        if production:
            raise _fail("XSELL_ENCRYPTION_KEYS", "is required when XSELL_ENV=production")
        return [DEV_ENCRYPTION_KEY]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise _fail(
                "XSELL_ENCRYPTION_KEYS",
                f"key {position} is not a valid Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `manage.py xsell_rotate_keys --generate`)",
            ) from None
    if production and DEV_ENCRYPTION_KEY in keys[:1]:
        raise _fail("XSELL_ENCRYPTION_KEYS", "the development key must not encrypt in production")
    if len(set(keys)) != len(keys):
        raise _fail("XSELL_ENCRYPTION_KEYS", "lists the same key twice")
    return keys


def public_url(env: environ.Env, *, production: bool) -> str:
    value = env.str("XSELL_PUBLIC_URL", default="" if production else "http://127.0.0.1:8000")
    if not value:
        raise _fail("XSELL_PUBLIC_URL", "is required when XSELL_ENV=production")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _fail("XSELL_PUBLIC_URL", f"must be an absolute http(s) URL, got {value!r}")
    if production and parts.scheme != "https":
        raise _fail("XSELL_PUBLIC_URL", "must use https in production")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise _fail("XSELL_PUBLIC_URL", "must be an origin without a path, e.g. https://app.example.com")
    return f"{parts.scheme}://{parts.netloc}"


def allowed_hosts(env: environ.Env, public: str, *, production: bool) -> list[str]:
    hosts = [h.strip() for h in env.str("XSELL_ALLOWED_HOSTS", default="").split(",") if h.strip()]
    host = urlsplit(public).hostname or ""
    if host and host not in hosts:
        hosts.append(host)
    if not production:
        hosts += ["127.0.0.1", "localhost", "[::1]", "testserver"]
    return hosts


def database(env: environ.Env, var_dir: Path) -> dict:
    raw = env.str("DATABASE_URL", default="")
    if not raw:
        var_dir.mkdir(parents=True, exist_ok=True)
        raw = f"sqlite:///{var_dir / 'xsell.sqlite3'}"
    scheme = urlsplit(raw).scheme
    if scheme not in _DB_SCHEMES:
        raise _fail(
            "DATABASE_URL",
            f"unsupported scheme {scheme or '(none)'!r}; use postgres://user@host:5432/name "
            "or sqlite:///path/to/file.sqlite3",
        )
    try:
        parsed = environ.Env.db_url_config(raw)
    except Exception as exc:
        raise _fail("DATABASE_URL", f"cannot be parsed ({exc})") from None
    if not parsed.get("NAME"):
        raise _fail("DATABASE_URL", "names no database")
    if parsed["ENGINE"] == "django.db.backends.sqlite3":
        # Concurrent web + worker processes on one file: wait for locks instead of failing,
        # and take the write lock at BEGIN so upgrades from read to write cannot deadlock.
        parsed.setdefault("OPTIONS", {}).update(
            {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
    else:
        parsed.setdefault("CONN_MAX_AGE", 60)
        parsed.setdefault("CONN_HEALTH_CHECKS", True)
        # A fresh, private test database per run when asked (CI runs many suites on one server).
        test_name = env.str("XSELL_TEST_DATABASE_NAME", default="")
        if test_name:
            parsed["TEST"] = {"NAME": test_name}
    return parsed


def redis_url(env: environ.Env) -> str:
    raw = env.str("REDIS_URL", default="")
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.hostname or parts.path):
        raise _fail("REDIS_URL", f"must look like redis://host:6379/0, got {raw!r}")
    try:
        _ = parts.port
    except ValueError:
        raise _fail("REDIS_URL", f"has an invalid port in {raw!r}") from None
    return raw

