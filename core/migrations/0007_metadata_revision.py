import secrets

from django.db import migrations, models


def first_revision(apps, schema_editor):
    revision = apps.get_model("core", "MetadataRevision")
    revision.objects.using(schema_editor.connection.alias).create(
        pk=1, token=secrets.token_hex(16)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0006_sign_in_throttle"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetadataRevision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.CharField(max_length=32)),
            ],
            options={"verbose_name": "metadata revision"},
        ),
        migrations.RunPython(first_revision, migrations.RunPython.noop),
    ]
