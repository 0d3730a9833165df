from django.urls import path

from xsell_plugin.dashboard import views

urlpatterns = [
    path("", views.app_shell, name="app-shell"),
]
