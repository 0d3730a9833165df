from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "xsell_plugin.sequences"
    label = "sequences"
    verbose_name = "Sequences"
