from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "xsell_plugin.orders"
    label = "orders"
