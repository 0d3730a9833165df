from django.urls import path

from xsell_plugin.dashboard import apis

urlpatterns = [
    path("store", apis.StoreSummaryApi.as_view(), name="api-store"),
]
