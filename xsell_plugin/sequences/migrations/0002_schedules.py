"""The sequences' cron jobs: the trigger scan and the dispatcher, every minute (the sends
themselves are ScheduledSend rows, never Schedule rows)."""

from django.db import migrations

SCHEDULES = [
    ("xsell: sequence triggers", "xsell_plugin.sequences.tasks.scan"),
    ("xsell: dispatch sequence sends", "xsell_plugin.sequences.tasks.dispatch"),
]


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": 1, "repeats": -1})


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sequences", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create, remove)]
