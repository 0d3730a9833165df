"""The few cron jobs django-q2 runs (per-customer work never becomes a Schedule row)."""

from django.db import migrations

SCHEDULES = [
    # name, func, schedule_type, minutes
    ("xsell: sweep lost tasks", "integrations.tasks.sweep", "I", 1),
    ("xsell: reconcile stores", "integrations.tasks.reconcile_stores", "H", None),
]


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, schedule_type, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1},
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create, remove)]
