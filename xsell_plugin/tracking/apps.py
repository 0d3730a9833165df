from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "xsell_plugin.tracking"
    label = "tracking"
    verbose_name = "Tracking"
