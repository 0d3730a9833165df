from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "xsell_plugin.customers"
    label = "customers"
