from django.apps import AppConfig


class ActivityConfig(AppConfig):
    name = "xsell_plugin.activity"
    label = "activity"
