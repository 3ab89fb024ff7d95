"""RELYING_PARTY settings: read at call time, validated by the system checks; settings.rp holds no signing key."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.test import override_settings

from relying_party.checks import check_relying_party_settings
from relying_party.conf import RELYING_PARTY_DEFAULTS, rp_settings
from relying_party.state import build_verifier, default_verifier
from tests.relying_party.issuer import AUDIENCE, ISSUER, JWKS_URL

ROOT = Path(__file__).resolve().parents[2]
VALID = {"ISSUER": ISSUER, "JWKS_URL": JWKS_URL, "AUDIENCE": AUDIENCE}


def test_settings_are_read_at_call_time_and_reloaded_when_they_change():
    with override_settings(RELYING_PARTY={**VALID, "LEEWAY": 5}):
        assert rp_settings.LEEWAY == 5
        assert rp_settings.MAX_TOKEN_BYTES == 8192
        with override_settings(RELYING_PARTY={**VALID, "LEEWAY": 30}):
            assert rp_settings.LEEWAY == 30
        assert rp_settings.LEEWAY == 5


def test_the_process_verifier_is_rebuilt_when_settings_change():
    with override_settings(RELYING_PARTY=VALID):
        first = default_verifier()
        assert default_verifier() is first
    with override_settings(RELYING_PARTY={**VALID, "AUDIENCE": "another-app"}):
        assert default_verifier() is not first
        assert default_verifier().audience == "another-app"


def test_every_option_has_a_default_and_an_unknown_one_is_an_attribute_error():
    assert RELYING_PARTY_DEFAULTS["ALGORITHMS"] == ["RS256"]
    assert RELYING_PARTY_DEFAULTS["MIN_RSA_BITS"] == 2048
    assert RELYING_PARTY_DEFAULTS["MAX_TOKEN_BYTES"] == 8192
    assert RELYING_PARTY_DEFAULTS["LOCAL_USERS"] is False
    with pytest.raises(AttributeError, match="SIGNING_KEY"):
        rp_settings.SIGNING_KEY  # noqa: B018


def test_every_option_has_a_comment_stating_what_it_means():
    source = (ROOT / "relying_party" / "conf.py").read_text()
    for name in RELYING_PARTY_DEFAULTS:
        line = source.index(f'    "{name}":')
        assert source[:line].rstrip().splitlines()[-1].strip().startswith("#"), name


def test_the_jwks_url_defaults_to_the_issuers_well_known_path():
    with override_settings(RELYING_PARTY={"ISSUER": "https://id.example/", "AUDIENCE": AUDIENCE}):
        assert build_verifier().jwks.url == "https://id.example/.well-known/jwks.json"


def test_the_settings_reach_the_cache_and_the_verifier():
    options = {**VALID, "REFETCH_COOLDOWN": 7, "LEEWAY": 3, "VERIFIED_CACHE_SIZE": 9, "ALGORITHMS": ["PS256"]}
    with override_settings(RELYING_PARTY=options):
        verifier = build_verifier()
    assert verifier.leeway == 3 and verifier.algorithms == ["PS256"]
    assert verifier.jwks._cooldown == 7 and verifier.jwks.algorithms == {"PS256"}


def ids(messages):
    return sorted(message.id for message in messages)


@pytest.fixture
def installed():
    """Check as settings/rp.py runs: with 'relying_party' in INSTALLED_APPS, whatever the test settings."""
    with mock.patch("relying_party.checks.apps.is_installed", return_value=True):
        yield


def test_valid_settings_pass_the_system_checks(installed):
    with override_settings(RELYING_PARTY=VALID):
        assert check_relying_party_settings() == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"ISSUER": None, "JWKS_URL": None}, ["relying_party.E001"]),
        ({"AUDIENCE": None}, ["relying_party.E001"]),
        ({"ALGORITHMS": ["HS256"]}, ["relying_party.E001"]),
        ({"MIN_RSA_BITS": 1024}, ["relying_party.E001"]),
        ({"JWKS_URL": "http://issuer.example/.well-known/jwks.json"}, ["relying_party.W001"]),
        ({"JWKS_URL": "http://127.0.0.1:8000/.well-known/jwks.json"}, []),
        ({"LEWAY": 5}, ["relying_party.W002"]),
        ({"REVOCATION_STORE": "redis"}, ["relying_party.E004"]),
        ({"REVOCATION_REFRESH": 0}, ["relying_party.E001"]),
        ({"REVOCATION_REFRESH": "0.5"}, ["relying_party.E001"]),
        ({"REVOCATION_STORE": "cache", "REVOCATION_CACHE": "nowhere"}, ["relying_party.E005"]),
        # The test settings' default cache is the local-memory one: each worker would have its own.
        ({"REVOCATION_STORE": "cache"}, ["relying_party.W003"]),
    ],
)
def test_the_system_checks_report_unusable_settings(installed, options, expected):
    with override_settings(RELYING_PARTY={**VALID, **options}):
        assert ids(check_relying_party_settings()) == expected


def test_the_checks_stay_silent_in_a_project_that_is_not_a_relying_party():
    with mock.patch("relying_party.checks.apps.is_installed", return_value=False):
        with override_settings():
            if hasattr(settings, "RELYING_PARTY"):
                del settings.RELYING_PARTY
            assert check_relying_party_settings() == []


def test_the_database_revocation_store_without_the_app_installed_is_a_check_error():
    with override_settings(RELYING_PARTY=VALID):
        with mock.patch("relying_party.checks.apps.is_installed", return_value=False):
            assert ids(check_relying_party_settings()) == ["relying_party.E003"]


def test_a_shared_cache_store_passes_the_checks(installed):
    redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379"}}
    with override_settings(RELYING_PARTY={**VALID, "REVOCATION_STORE": "cache"}, CACHES=redis):
        assert check_relying_party_settings() == []


def test_local_users_without_the_app_installed_is_a_check_error():
    with override_settings(RELYING_PARTY={**VALID, "LOCAL_USERS": True}):
        with mock.patch("relying_party.checks.apps.is_installed", return_value=False):
            assert ids(check_relying_party_settings()) == ["relying_party.E002", "relying_party.E003"]


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter at the repository root, in demo mode with its own var/."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KUNCI_", "DJANGO_")) and name != "DATABASE_URL"
    }
    environment.update({"KUNCI_DEMO": "1", "KUNCI_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}, **env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_settings_rp_holds_no_signing_key(tmp_path):
    result = run_python(
        "import json, settings.rp as s; print(json.dumps({"
        "'apps': s.INSTALLED_APPS, 'names': [n for n in dir(s) if n.isupper()],"
        "'urls': s.ROOT_URLCONF, 'rest': s.REST_FRAMEWORK, 'rp': s.RELYING_PARTY,"
        "'db': str(s.DATABASES['default']['NAME'])}))",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)

    assert "keys" not in loaded["apps"] and "idp" not in loaded["apps"]
    assert "rest_framework_simplejwt.token_blacklist" not in loaded["apps"]
    assert "relying_party" in loaded["apps"]
    for forbidden in ("SIMPLE_JWT", "KUNCI_KEYS", "KUNCI_KEY_ENCRYPTION_KEY", "KUNCI_IDP"):
        assert forbidden not in loaded["names"]
    assert not (tmp_path / "var" / "key-encryption-key").exists()
    assert loaded["urls"] == "relying_party.urls"
    assert loaded["rest"]["DEFAULT_AUTHENTICATION_CLASSES"] == ["relying_party.authentication.JWKSAuthentication"]
    assert loaded["rest"]["DEFAULT_PERMISSION_CLASSES"] == ["rest_framework.permissions.IsAuthenticated"]
    assert loaded["rp"] == {
        "APP_NAME": "app1",
        "ISSUER": "http://127.0.0.1:8000",
        "JWKS_URL": "http://127.0.0.1:8000/.well-known/jwks.json",
        "AUDIENCE": "kunci-apps",
        "LOCAL_USERS": False,
        "ACCESS_COOKIE_NAME": None,
        "OIDC": None,
    }
    assert loaded["db"] == str(tmp_path / "var" / "rp-app1.sqlite3")


def test_settings_rp_takes_its_name_issuer_audience_and_access_cookie_from_the_environment(tmp_path):
    result = run_python(
        "import json, settings.rp as s; print(json.dumps(s.RELYING_PARTY))",
        tmp_path,
        KUNCI_RP_NAME="app2",
        KUNCI_ISSUER="https://id.example",
        KUNCI_AUDIENCE="shop",
        KUNCI_RP_ACCESS_COOKIE_NAME="kunci_access",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "APP_NAME": "app2",
        "ISSUER": "https://id.example",
        "JWKS_URL": "https://id.example/.well-known/jwks.json",
        "AUDIENCE": "shop",
        "LOCAL_USERS": False,
        "ACCESS_COOKIE_NAME": "kunci_access",
        "OIDC": None,
    }


def write_demo_client(tmp_path: Path, name: str, client_id: str = "demo-id", secret: str = "demo-secret") -> None:
    """Write var/demo-client-NAME.json as `manage.py demo_clients` does."""
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / f"demo-client-{name}.json").write_text(json.dumps({"client_id": client_id, "client_secret": secret}))


def rp_oidc(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return run_python("import json, settings.rp as s; print(json.dumps(s.RELYING_PARTY['OIDC']))", tmp_path, **env)


def test_settings_rp_in_demo_mode_signs_in_with_the_client_that_demo_clients_registered(tmp_path):
    write_demo_client(tmp_path, "app2")

    result = rp_oidc(tmp_path, KUNCI_RP_NAME="app2", KUNCI_ISSUER="http://127.0.0.1:9000")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "CLIENT_ID": "demo-id",
        "CLIENT_SECRET": "demo-secret",
        "SERVER_METADATA_URL": "http://127.0.0.1:9000/.well-known/openid-configuration",
    }


def test_settings_rp_without_a_registration_has_no_browser_sign_in(tmp_path):
    write_demo_client(tmp_path, "app2")  # another app's file is not this app's registration

    result = rp_oidc(tmp_path, KUNCI_RP_NAME="app1")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is None


def test_settings_rp_takes_the_client_from_the_environment_first(tmp_path):
    write_demo_client(tmp_path, "app1")

    result = rp_oidc(tmp_path, KUNCI_RP_CLIENT_ID="env-id", KUNCI_RP_CLIENT_SECRET="env-secret")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["CLIENT_ID"] == "env-id"
    assert json.loads(result.stdout)["CLIENT_SECRET"] == "env-secret"


def test_settings_rp_refuses_a_client_id_without_a_secret(tmp_path):
    result = rp_oidc(tmp_path, KUNCI_RP_CLIENT_ID="env-id")

    assert result.returncode != 0
    assert "KUNCI_RP_CLIENT_SECRET" in result.stderr


def test_settings_rp_outside_demo_mode_ignores_the_demo_file_and_refuses_its_secret(tmp_path):
    write_demo_client(tmp_path, "app1")
    production = {"KUNCI_DEMO": "0", "DJANGO_SECRET_KEY": "x" * 50}

    unregistered = rp_oidc(tmp_path, **production)
    demo_secret = rp_oidc(tmp_path, **production, KUNCI_RP_CLIENT_ID="demo-id", KUNCI_RP_CLIENT_SECRET="demo-secret")

    assert unregistered.returncode == 0, unregistered.stderr
    assert json.loads(unregistered.stdout) is None
    assert demo_secret.returncode != 0
    assert "demo secret" in demo_secret.stderr


def test_settings_rp_refuses_a_name_that_is_not_a_safe_file_name(tmp_path):
    result = run_python("import settings.rp", tmp_path, KUNCI_RP_NAME="../etc")
    assert result.returncode != 0
    assert "KUNCI_RP_NAME" in result.stderr


def test_settings_rp_migrates_passes_its_checks_and_has_no_missing_migration(tmp_path):
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line as run;"
        "run(['manage.py', 'migrate', '--noinput', '-v', '0']);"
        "run(['manage.py', 'check', '--fail-level', 'WARNING']);"
        "run(['manage.py', 'makemigrations', 'relying_party', '--check', '--dry-run'])",
        tmp_path,
        DJANGO_SETTINGS_MODULE="settings.rp",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "var" / "rp-app1.sqlite3").exists()
