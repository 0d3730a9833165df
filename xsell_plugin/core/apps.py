from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "xsell_plugin.core"
    label = "core"
