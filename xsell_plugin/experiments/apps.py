from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "xsell_plugin.experiments"
    label = "experiments"
    verbose_name = "Experiments and holdouts"
