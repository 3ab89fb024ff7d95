# Refresh-token rotations, beside simplejwt's outstanding tokens (whose tables need the user model first).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('idp', '0001_initial'),
        ('token_blacklist', '0013_alter_blacklistedtoken_options_and_more'),
    ]

    operations = [
        migrations.CreateModel(
            name='RefreshRotation',
            fields=[
                ('token', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='rotation', serialize=False, to='token_blacklist.outstandingtoken')),
                ('successor_jti', models.CharField(max_length=255, unique=True)),
                ('rotated_at', models.DateTimeField()),
                ('answered_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
    ]
