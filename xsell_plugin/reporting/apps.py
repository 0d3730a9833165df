from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "xsell_plugin.reporting"
    label = "reporting"
    verbose_name = "Reporting"
