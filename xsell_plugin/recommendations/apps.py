from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "xsell_plugin.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"
