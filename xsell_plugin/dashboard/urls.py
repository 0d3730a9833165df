from django.urls import path

from xsell_plugin.dashboard import (
    apis,
    catalog_apis,
    experiment_apis,
    offer_apis,
    report_apis,
    sequence_apis,
)

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
    # Sequences and steps
    path("sequences", sequence_apis.SequenceListApi.as_view(), name="api-sequences"),
    path("sequences/<int:pk>", sequence_apis.SequenceDetailApi.as_view(), name="api-sequence"),
    path("sequences/<int:pk>/steps", sequence_apis.SequenceStepListApi.as_view(), name="api-steps"),
    path(
        "sequences/<int:pk>/steps/<int:step_id>",
        sequence_apis.SequenceStepDetailApi.as_view(),
        name="api-step",
    ),
    path(
        "sequences/<int:pk>/steps/<int:step_id>/preview",
        sequence_apis.SequenceStepPreviewApi.as_view(),
        name="api-step-preview",
    ),
    path(
        "sequences/<int:pk>/steps/<int:step_id>/send-test",
        sequence_apis.SequenceStepSendTestApi.as_view(),
        name="api-step-send-test",
    ),
    # Offers
    path("bundles", offer_apis.BundleListApi.as_view(), name="api-bundles"),
    path("bundles/quote", offer_apis.BundleQuoteApi.as_view(), name="api-bundle-quote"),
    path("bundles/<int:pk>", offer_apis.BundleDetailApi.as_view(), name="api-bundle"),
    path("incentives", offer_apis.IncentiveListApi.as_view(), name="api-incentives"),
    path("incentives/preview", offer_apis.IncentivePreviewApi.as_view(), name="api-incentive-preview"),
    path("incentives/<int:pk>", offer_apis.IncentiveDetailApi.as_view(), name="api-incentive"),
    # Catalogue, customers, recommendation rules
    path("products", catalog_apis.ProductListApi.as_view(), name="api-products"),
    path("customers", catalog_apis.CustomerListApi.as_view(), name="api-customers"),
    path("recommendations/rules", catalog_apis.ProductTypeRuleListApi.as_view(), name="api-rec-rules"),
    path(
        "recommendations/rules/<int:pk>", catalog_apis.ProductTypeRuleDetailApi.as_view(), name="api-rec-rule"
    ),
    path(
        "recommendations/overrides",
        catalog_apis.ProductOverrideListApi.as_view(),
        name="api-rec-overrides",
    ),
    path(
        "recommendations/overrides/<int:pk>",
        catalog_apis.ProductOverrideDetailApi.as_view(),
        name="api-rec-override",
    ),
]
