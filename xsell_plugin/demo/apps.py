from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "xsell_plugin.demo"
    label = "demo"
