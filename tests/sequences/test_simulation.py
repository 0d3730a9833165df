"""The simulation runs the whole pipeline on a slice of the real demo data, deterministically."""

import pytest
from django.core.management import call_command

from xsell_plugin.demo.simulation import SIM_DOMAIN, simulate
from xsell_plugin.sequences.models import Enrollment
from xsell_plugin.stores.models import Store

pytestmark = pytest.mark.django_db


def test_same_seed_same_report(settings):
    settings.XSELL_SEQUENCE_CONTENT = "xsell_plugin.sequences.content.step_content"
    first = simulate(days=3, households=15, tick_minutes=60, seed=5)
    second = simulate(days=3, households=15, tick_minutes=60, seed=5)
    assert first.as_dict() == second.as_dict()
    assert first.replayed_orders > 0 and first.history_orders > 0
    assert first.enrolled_during_backfill == 0  # the backfill of history enrols nobody
    assert sum(first.enrolled.values()) == Enrollment.objects.filter(store__domain=SIM_DOMAIN).count() > 0
    assert first.max_emails_per_customer_7d <= 3
    assert Store.objects.filter(domain=SIM_DOMAIN).count() == 1  # recreated, not added


def test_command_prints_the_report(capsys, settings):
    settings.XSELL_SEQUENCE_CONTENT = "xsell_plugin.sequences.content.step_content"
    call_command("xsell_simulate", "--days", "1", "--households", "8", "--tick-minutes", "120")
    out = capsys.readouterr().out
    for heading in ("Enrolled", "Sent", "Skipped, by reason", "Clicks", "Orders attributed"):
        assert heading in out
