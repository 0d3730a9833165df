from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "xsell_plugin.dashboard"
    label = "dashboard"

    def ready(self) -> None:
        from xsell_plugin.dashboard import schema  # noqa: F401 - registers the extension
