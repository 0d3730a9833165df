from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "xsell_plugin.catalog"
    label = "catalog"
