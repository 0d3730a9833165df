from django.urls import path

from xsell_plugin.dashboard import apis, experiment_apis, report_apis

urlpatterns = [
    path("store", apis.StoreSummaryApi.as_view(), name="api-store"),
    # Settings
    path("settings/guardrails", apis.GuardrailSettingsApi.as_view(), name="api-guardrails"),
    path("holdouts", experiment_apis.HoldoutListApi.as_view(), name="api-holdouts"),
    path("holdouts/<int:pk>", experiment_apis.HoldoutDetailApi.as_view(), name="api-holdout"),
    # Experiments
    path("experiments", experiment_apis.ExperimentListApi.as_view(), name="api-experiments"),
    path("experiments/sample-size", experiment_apis.SampleSizeApi.as_view(), name="api-sample-size"),
    path("experiments/<int:pk>", experiment_apis.ExperimentDetailApi.as_view(), name="api-experiment"),
    path(
        "experiments/<int:pk>/start",
        experiment_apis.ExperimentStartApi.as_view(),
        name="api-experiment-start",
    ),
    path(
        "experiments/<int:pk>/stop", experiment_apis.ExperimentStopApi.as_view(), name="api-experiment-stop"
    ),
    path(
        "experiments/<int:pk>/results",
        experiment_apis.ExperimentResultsApi.as_view(),
        name="api-experiment-results",
    ),
    # Segments
    path("segments", apis.SegmentsApi.as_view(), name="api-segments"),
    # Reports
    path("reports/summary", report_apis.SummaryApi.as_view(), name="api-report-summary"),
    path("reports/incremental", report_apis.IncrementalApi.as_view(), name="api-report-incremental"),
    path("reports/attribution", report_apis.AttributionApi.as_view(), name="api-report-attribution"),
    path("reports/timeseries", report_apis.TimeseriesApi.as_view(), name="api-report-timeseries"),
    path("reports/funnel", report_apis.FunnelApi.as_view(), name="api-report-funnel"),
    path("reports/cohorts", report_apis.CohortsApi.as_view(), name="api-report-cohorts"),
    path("reports/clv", report_apis.ClvApi.as_view(), name="api-report-clv"),
    path("reports/clv/customers", report_apis.ClvCustomersApi.as_view(), name="api-report-clv-customers"),
    path(
        "reports/retention/upgrades",
        report_apis.UpgradeRetentionApi.as_view(),
        name="api-report-upgrade-retention",
    ),
    path("reports/nps", report_apis.NpsApi.as_view(), name="api-report-nps"),
    path(
        "reports/deliverability", report_apis.DeliverabilityApi.as_view(), name="api-report-deliverability"
    ),
    path("reports/review", apis.QuarterlyReviewApi.as_view(), name="api-report-review"),
    # Emails
    path("emails/preview", apis.EmailPreviewApi.as_view(), name="api-email-preview"),
    path("emails/settings", apis.EmailSettingsApi.as_view(), name="api-email-settings"),
    path("emails/templates", apis.TemplateCopyListApi.as_view(), name="api-email-templates"),
    path("emails/templates/<str:kind>", apis.TemplateCopyApi.as_view(), name="api-email-template"),
    path("testimonials", apis.TestimonialListApi.as_view(), name="api-testimonials"),
    path("testimonials/<int:pk>", apis.TestimonialDetailApi.as_view(), name="api-testimonial"),
    path("mailer", apis.MailerApi.as_view(), name="api-mailer"),
    path("mailer/test", apis.MailerTestApi.as_view(), name="api-mailer-test"),
]
