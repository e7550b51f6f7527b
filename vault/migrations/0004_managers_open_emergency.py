from django.db import migrations


def grant_break_glass_to_managers(apps, schema_editor):
    """Managers may open sealed emergency credentials; administrators grant it to others."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="vault", model="credential")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="open_emergency",
        defaults={"name": "Can open sealed emergency credentials (break glass)"},
    )
    managers, _ = Group.objects.get_or_create(name="Manager")
    managers.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("vault", "0003_checkouts_share_links_emergency"),
        ("accounts", "0002_role_groups"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant_break_glass_to_managers, migrations.RunPython.noop)]
