from datetime import timedelta

import pytest
import time_machine

from xsell_plugin.core.exceptions import TokenExpired, TokenInvalid
from xsell_plugin.core.tokens import make_token, read_token


def test_round_trip():
    token = make_token("unsubscribe", {"send": 42, "c": "x"})
    assert read_token("unsubscribe", token, max_age=timedelta(days=1)) == {"send": 42, "c": "x"}


def test_other_purpose_is_rejected():
    token = make_token("click", {"send": 1})
    with pytest.raises(TokenInvalid):
        read_token("admin-login", token, max_age=None)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    lambda t: "x" + t,
    lambda t: t.replace(":", "", 1),
    lambda t: "",
    lambda t: "not-a-token",
])
def test_tampering_is_rejected(mangle):
    token = make_token("click", {"send": 1})
    with pytest.raises(TokenInvalid):
        read_token("click", mangle(token), max_age=None)


def test_expiry():
    with time_machine.travel("2026-01-01 00:00Z", tick=False):
        token = make_token("preferences", 7)
    with time_machine.travel("2026-01-07 23:59Z", tick=False):
        assert read_token("preferences", token, max_age=timedelta(days=7)) == 7
    with time_machine.travel("2026-01-08 00:01Z", tick=False), pytest.raises(TokenExpired):
        read_token("preferences", token, max_age=timedelta(days=7))


def test_purpose_is_required():
    with pytest.raises(ValueError):
        make_token("", 1)
