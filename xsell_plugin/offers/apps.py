from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "xsell_plugin.offers"
    label = "offers"
    verbose_name = "Offers"
