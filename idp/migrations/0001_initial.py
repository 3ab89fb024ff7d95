# The issuer's first tables: users (case-insensitively unique email), login sessions and OAuth clients.

import authlib.oauth2.rfc6749.models
import django.contrib.auth.validators
import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
import idp.models
import idp.oauth.credentials
import idp.oauth.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.CreateModel(
            name='Client',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('client_id', models.CharField(default=idp.oauth.credentials.generate_client_id, editable=False, max_length=64, unique=True)),
                ('secret_digest', models.CharField(blank=True, editable=False, max_length=64)),
                ('name', models.CharField(error_messages={'unique': 'A client with this name already exists.'}, help_text='Shown to people on the sign-in and consent pages.', max_length=100, unique=True)),
                ('redirect_uris', models.JSONField(blank=True, default=list, help_text='Matched exactly, character for character (RFC 6749 §3.1.2.3, RFC 9700 §2.1).')),
                ('post_logout_redirect_uris', models.JSONField(blank=True, default=list, help_text='Where RP-Initiated Logout may send the browser afterwards; matched exactly.')),
                ('backchannel_logout_uri', models.CharField(blank=True, help_text='Where Kunci posts logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.2).', max_length=2000)),
                ('token_endpoint_auth_method', models.CharField(choices=[('client_secret_basic', 'client_secret_basic (HTTP Basic, RFC 6749 §2.3.1)'), ('client_secret_post', 'client_secret_post (form body, RFC 6749 §2.3.1)'), ('none', 'none (public client: no secret, PKCE required)')], default='client_secret_basic', max_length=32)),
                ('allowed_scopes', models.JSONField(blank=True, default=idp.oauth.models.default_scopes, help_text='Scopes this client may be granted; others it asks for are ignored.')),
                ('trusted', models.BooleanField(default=False, help_text='Skip the consent page: for first-party applications.')),
                ('accepts_shared_audience', models.BooleanField(default=False, help_text="The client accepts access tokens with the shared audience that Kunci's relying parties verify.")),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
            ],
            options={
                'ordering': ['name'],
            },
            bases=(authlib.oauth2.rfc6749.models.ClientMixin, models.Model),
        ),
        migrations.CreateModel(
            name='User',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('password', models.CharField(max_length=128, verbose_name='password')),
                ('last_login', models.DateTimeField(blank=True, null=True, verbose_name='last login')),
                ('is_superuser', models.BooleanField(default=False, help_text='Designates that this user has all permissions without explicitly assigning them.', verbose_name='superuser status')),
                ('username', models.CharField(error_messages={'unique': 'A user with that username already exists.'}, help_text='Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.', max_length=150, unique=True, validators=[django.contrib.auth.validators.UnicodeUsernameValidator()], verbose_name='username')),
                ('first_name', models.CharField(blank=True, max_length=150, verbose_name='first name')),
                ('last_name', models.CharField(blank=True, max_length=150, verbose_name='last name')),
                ('email', models.EmailField(blank=True, max_length=254, verbose_name='email address')),
                ('is_staff', models.BooleanField(default=False, help_text='Designates whether the user can log into this admin site.', verbose_name='staff status')),
                ('is_active', models.BooleanField(default=True, help_text='Designates whether this user should be treated as active. Unselect this instead of deleting accounts.', verbose_name='active')),
                ('date_joined', models.DateTimeField(default=django.utils.timezone.now, verbose_name='date joined')),
                ('groups', models.ManyToManyField(blank=True, help_text='The groups this user belongs to. A user will get all permissions granted to each of their groups.', related_name='user_set', related_query_name='user', to='auth.group', verbose_name='groups')),
                ('user_permissions', models.ManyToManyField(blank=True, help_text='Specific permissions for this user.', related_name='user_set', related_query_name='user', to='auth.permission', verbose_name='user permissions')),
            ],
            options={
                'verbose_name': 'user',
                'verbose_name_plural': 'users',
                'abstract': False,
                'swappable': 'AUTH_USER_MODEL',
            },
            managers=[
                ('objects', idp.models.KunciUserManager()),
            ],
        ),
        migrations.CreateModel(
            name='LoginSession',
            fields=[
                ('sid', models.CharField(max_length=32, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField()),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('ended_at', models.DateTimeField(blank=True, null=True)),
                ('end_reason', models.CharField(blank=True, choices=[('logout', 'logout'), ('logout_everywhere', 'logout everywhere'), ('reuse', 'refresh token reuse')], max_length=20)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='login_sessions', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('email'), condition=models.Q(('email', ''), _negated=True), name='idp_user_email_ci_unique', violation_error_message='A user with that email address already exists.'),
        ),
        migrations.AddIndex(
            model_name='loginsession',
            index=models.Index(fields=['user', 'ended_at'], name='idp_session_user_open'),
        ),
    ]
