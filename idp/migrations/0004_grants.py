# OP sessions gain auth_time and origin; grants under them, each with its refresh-token family.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('idp', '0003_authorization_code'),
        ('token_blacklist', '0013_alter_blacklistedtoken_options_and_more'),
    ]

    operations = [
        migrations.AddField(
            model_name='loginsession',
            name='auth_time',
            field=models.DateTimeField(default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='loginsession',
            name='origin',
            field=models.CharField(choices=[('api', 'JSON API'), ('browser', 'browser sign-in')], default='api', max_length=10),
        ),
        migrations.AlterField(
            model_name='loginsession',
            name='end_reason',
            field=models.CharField(blank=True, choices=[('logout', 'logout'), ('logout_everywhere', 'logout everywhere'), ('reuse', 'refresh token reuse'), ('rp_logout', 'RP-initiated logout'), ('code_replay', 'authorization code replay'), ('admin', 'ended by an administrator'), ('user_deactivated', 'user deactivated'), ('user_deleted', 'user deleted'), ('replaced', 'another user signed in')], max_length=20),
        ),
        migrations.CreateModel(
            name='Grant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.TextField(blank=True)),
                ('created_at', models.DateTimeField()),
                ('ended_at', models.DateTimeField(blank=True, null=True)),
                ('end_reason', models.CharField(blank=True, choices=[('logout', 'logout'), ('logout_everywhere', 'logout everywhere'), ('reuse', 'refresh token reuse'), ('rp_logout', 'RP-initiated logout'), ('code_replay', 'authorization code replay'), ('admin', 'ended by an administrator'), ('user_deactivated', 'user deactivated'), ('user_deleted', 'user deleted'), ('replaced', 'another user signed in')], max_length=20)),
                ('client', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='grants', to='idp.client')),
                ('session', models.ForeignKey(db_column='sid', on_delete=django.db.models.deletion.CASCADE, related_name='grants', to='idp.loginsession')),
            ],
        ),
        migrations.CreateModel(
            name='GrantRefreshToken',
            fields=[
                ('token', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='grant_link', serialize=False, to='token_blacklist.outstandingtoken')),
                ('grant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='refresh_tokens', to='idp.grant')),
            ],
        ),
        migrations.AddConstraint(
            model_name='grant',
            constraint=models.UniqueConstraint(condition=models.Q(('client__isnull', False), ('ended_at__isnull', True)), fields=('session', 'client'), name='idp_grant_one_open_per_client'),
        ),
        migrations.AddConstraint(
            model_name='grant',
            constraint=models.UniqueConstraint(condition=models.Q(('client__isnull', True), ('ended_at__isnull', True)), fields=('session',), name='idp_grant_one_open_api_grant'),
        ),
    ]
