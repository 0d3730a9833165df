from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from xsell_plugin.core.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/", include("xsell_plugin.dashboard.urls")),
    path("app/", include("xsell_plugin.dashboard.app_urls")),
    path("django-admin/", admin.site.urls),
    path("", include("integrations.urls")),
    path("", include("xsell_plugin.tracking.urls")),  # /t/c/, /t/o/, /u/, /p/, /webhooks/mailer/
]
