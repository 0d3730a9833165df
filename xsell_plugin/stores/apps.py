from django.apps import AppConfig


class StoresConfig(AppConfig):
    name = "xsell_plugin.stores"
    label = "stores"
