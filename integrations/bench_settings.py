"""Settings of the server that ``xsell_bench webhooks`` starts under gunicorn: the project's own,
plus one route, ``POST /bench/bare/``, a bare Django view answering 200 through the same
middleware, the reference the webhook receiver is compared with (DESIGN.md section 7)."""

from xsell_plugin.settings import *  # noqa: F403

ROOT_URLCONF = "integrations.bench_urls"
