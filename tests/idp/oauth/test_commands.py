"""`manage.py clients` (add, list, show, remove, rotate-secret) and `manage.py demo_clients`."""
from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from idp.management.commands import demo_clients
from idp.oauth.models import AuthMethod, Client
from tests.e2e.servers import ROOT

pytestmark = pytest.mark.django_db

URI = "https://app.example.com/callback"
URL_SAFE = r"[A-Za-z0-9_-]+"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def add(name: str = "App", *args: str) -> dict[str, str]:
    return json.loads(run("clients", "add", name, "--redirect-uri", URI, "--json", *args))


# add

def test_add_json_prints_exactly_the_client_id_and_the_secret():
    out = run("clients", "add", "App", "--redirect-uri", URI, "--json")

    assert re.fullmatch(rf'\{{"client_id": "{URL_SAFE}", "client_secret": "{URL_SAFE}"\}}\n', out)
    credentials = json.loads(out)
    client = Client.objects.get(client_id=credentials["client_id"])
    assert client.check_client_secret(credentials["client_secret"])
    assert client.secret_digest != credentials["client_secret"]


def test_add_json_for_a_public_client_prints_no_secret_key():
    out = run("clients", "add", "SPA", "--redirect-uri", URI, "--public", "--json")

    assert re.fullmatch(rf'\{{"client_id": "{URL_SAFE}"\}}\n', out)
    client = Client.objects.get(client_id=json.loads(out)["client_id"])
    assert client.is_public and client.secret_digest == ""


def test_add_without_json_shows_the_secret_and_says_it_is_shown_once():
    out = run("clients", "add", "App", "--redirect-uri", URI)
    client = Client.objects.get(name="App")

    assert f"client_id:     {client.client_id}" in out
    secret = re.search(rf"client_secret: ({URL_SAFE})", out).group(1)
    assert client.check_client_secret(secret)
    assert "shown this once" in out


def test_add_stores_every_option():
    credentials = add(
        "App",
        "--redirect-uri", "http://127.0.0.1:9000/cb",
        "--post-logout-redirect-uri", "https://app.example.com/",
        "--post-logout-redirect-uri", "https://app.example.com/bye",
        "--backchannel-logout-uri", "https://app.example.com/backchannel",
        "--token-endpoint-auth-method", "client_secret_post",
        "--scope", "openid", "--scope", "email",
        "--trusted", "--accepts-shared-audience",
    )
    client = Client.objects.get(client_id=credentials["client_id"])

    assert client.redirect_uris == [URI, "http://127.0.0.1:9000/cb"]
    assert client.post_logout_redirect_uris == ["https://app.example.com/", "https://app.example.com/bye"]
    assert client.backchannel_logout_uri == "https://app.example.com/backchannel"
    assert client.token_endpoint_auth_method == AuthMethod.CLIENT_SECRET_POST
    assert client.allowed_scopes == ["openid", "email"]
    assert client.trusted and client.accepts_shared_audience


def test_add_defaults_to_an_untrusted_basic_client_with_the_openid_scopes():
    client = Client.objects.get(client_id=add()["client_id"])

    assert client.token_endpoint_auth_method == AuthMethod.CLIENT_SECRET_BASIC
    assert client.allowed_scopes == ["openid", "profile", "email"]
    assert not client.trusted and not client.accepts_shared_audience
    assert client.post_logout_redirect_uris == [] and client.backchannel_logout_uri == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redirect-uri", "http://app.example.com/cb"], "redirect_uris: 'http://app.example.com/cb' must use https"),
        (["--redirect-uri", "https://app.example.com/cb#x"], "must not contain a fragment"),
        (["--redirect-uri", "com.example.app:/cb"], "custom URI schemes"),
        (["--redirect-uri", URI, "--post-logout-redirect-uri", "https://u@app.example.com/"], "post_logout_redirect_uris: "),
        (["--redirect-uri", URI, "--backchannel-logout-uri", "/relative"], "backchannel_logout_uri: "),
        (["--redirect-uri", URI, "--scope", "bad scope"], "allowed_scopes: "),
        (["--redirect-uri", URI, "--redirect-uri", URI], "Lists a URI twice"),
    ],
)
def test_add_refuses_a_bad_registration_with_the_field_and_the_reason(args, message, monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)

    with pytest.raises(CommandError, match=re.escape(message)):
        run("clients", "add", "App", *args)
    assert not Client.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backchannel-logout-uri", "http://app.example.com/backchannel-logout"], "must use https"),
        (["--backchannel-logout-uri", "https://app.example.com/backchannel-logout#x"], "must not contain a fragment"),
        (["--backchannel-logout-uri", "app.example.com/backchannel-logout"], "must be an absolute URI"),
        (["--backchannel-logout-uri", "http://127.0.0.1:9000/backchannel-logout", "--public"],
         "must use https for a public client (Back-Channel Logout 1.0 §2.2)"),
    ],
)
def test_add_refuses_a_backchannel_logout_uri_that_back_channel_logout_forbids(args, message, monkeypatch):
    # Back-Channel Logout 1.0 §2.2: absolute, no fragment, https (http only for a confidential client).
    monkeypatch.delenv("KUNCI_DEMO", raising=False)

    with pytest.raises(CommandError, match=re.escape("backchannel_logout_uri: ") + ".*" + re.escape(message)):
        run("clients", "add", "App", "--redirect-uri", URI, *args)
    assert not Client.objects.exists()


def test_add_accepts_a_loopback_http_backchannel_logout_uri_for_a_confidential_client(monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)

    client = Client.objects.get(client_id=add("App", "--backchannel-logout-uri", "http://127.0.0.1:9000/bcl")["client_id"])

    assert client.backchannel_logout_uri == "http://127.0.0.1:9000/bcl"


def test_add_refuses_a_name_already_registered():
    add("App")

    with pytest.raises(CommandError, match="name: A client with this name already exists"):
        add("App")
    assert Client.objects.count() == 1


def test_add_accepts_http_redirect_uris_in_demo_mode(monkeypatch):
    monkeypatch.setenv("KUNCI_DEMO", "1")

    out = run("clients", "add", "Demo", "--redirect-uri", "http://app.example.com/cb", "--json")

    assert Client.objects.get(client_id=json.loads(out)["client_id"]).redirect_uris == ["http://app.example.com/cb"]


def test_add_requires_a_redirect_uri():
    with pytest.raises(CommandError, match="--redirect-uri"):
        run("clients", "add", "App")


def test_public_and_a_secret_auth_method_are_exclusive():
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("clients", "add", "App", "--redirect-uri", URI, "--public", "--token-endpoint-auth-method", "client_secret_post")


def test_none_is_not_an_auth_method_choice_public_is():
    with pytest.raises(CommandError, match="invalid choice"):
        run("clients", "add", "App", "--redirect-uri", URI, "--token-endpoint-auth-method", "none")


# list

def test_list_says_how_to_register_when_there_is_no_client():
    assert "clients add" in run("clients", "list")


def test_list_shows_each_client_id_name_and_type_and_never_a_secret():
    app = add("App", "--trusted")
    spa = add("SPA", "--public")

    out = run("clients", "list")

    lines = out.splitlines()
    assert lines[0].split() == [app["client_id"], "App", "confidential", "trusted"]
    assert lines[1].split() == [spa["client_id"], "SPA", "public"]
    assert app["client_secret"] not in out
    assert Client.objects.get(name="App").secret_digest not in out


def test_list_json():
    app = add("App")

    listed = json.loads(run("clients", "list", "--json"))

    assert [client["client_id"] for client in listed] == [app["client_id"]]


# show

def test_show_prints_the_registration_but_never_the_secret_or_its_digest():
    credentials = add("App", "--post-logout-redirect-uri", "https://app.example.com/")
    client = Client.objects.get(client_id=credentials["client_id"])

    out = run("clients", "show", client.client_id)

    assert f"client_id: {client.client_id}" in out
    assert "name: App" in out and URI in out and "https://app.example.com/" in out
    assert "client_type: confidential" in out and "token_endpoint_auth_method: client_secret_basic" in out
    assert credentials["client_secret"] not in out and client.secret_digest not in out
    assert "secret" not in out.replace("client_secret_basic", "")


def test_show_json_has_every_field_but_the_secret():
    credentials = add("App")
    client = Client.objects.get(client_id=credentials["client_id"])

    shown = json.loads(run("clients", "show", client.client_id, "--json"))

    assert shown == {
        "client_id": client.client_id,
        "name": "App",
        "client_type": "confidential",
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": [URI],
        "post_logout_redirect_uris": [],
        "backchannel_logout_uri": None,
        "allowed_scopes": ["openid", "profile", "email"],
        "trusted": False,
        "accepts_shared_audience": False,
        "created_at": client.created_at.isoformat(),
    }


@pytest.mark.parametrize("action", ["show", "remove", "rotate-secret"])
def test_an_unknown_client_id_is_a_clear_error(action):
    add("App")

    with pytest.raises(CommandError, match="No client has client_id 'nope'; `manage.py clients list` shows them"):
        run("clients", action, "nope")


# remove

def test_remove_deletes_the_client():
    kept = add("Kept")
    removed = add("Removed")

    out = run("clients", "remove", removed["client_id"])

    assert out == f"Removed client Removed ({removed['client_id']}).\n"
    assert list(Client.objects.values_list("client_id", flat=True)) == [kept["client_id"]]


# rotate-secret

def test_rotate_secret_prints_a_new_secret_once_and_the_old_one_stops_working():
    old = add("App")

    out = run("clients", "rotate-secret", old["client_id"])

    new_secret = re.search(rf"client_secret: ({URL_SAFE})", out).group(1)
    client = Client.objects.get(client_id=old["client_id"])
    assert client.check_client_secret(new_secret)
    assert not client.check_client_secret(old["client_secret"])
    assert "shown this once" in out


def test_rotate_secret_json_prints_exactly_the_client_id_and_the_new_secret():
    old = add("App")

    out = run("clients", "rotate-secret", old["client_id"], "--json")

    assert re.fullmatch(rf'\{{"client_id": "{old["client_id"]}", "client_secret": "{URL_SAFE}"\}}\n', out)
    new = json.loads(out)
    assert new["client_secret"] != old["client_secret"]
    assert Client.objects.get(client_id=old["client_id"]).check_client_secret(new["client_secret"])


def test_rotate_secret_refuses_a_public_client():
    spa = add("SPA", "--public")

    with pytest.raises(CommandError, match="public client: it has no secret to rotate"):
        run("clients", "rotate-secret", spa["client_id"])
    assert Client.objects.get(client_id=spa["client_id"]).secret_digest == ""


# From a shell: exit statuses and output, never a traceback.

def _manage(tmp_path, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUNCI_", "DJANGO_")) and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "KUNCI_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "settings.test"},
        capture_output=True, text=True, timeout=60,
    )


def test_from_a_shell_json_is_the_only_output_and_bad_arguments_exit_non_zero_without_a_traceback(tmp_path):
    assert _manage(tmp_path, "migrate", "-v", "0").returncode == 0

    added = _manage(tmp_path, "clients", "add", "App", "--redirect-uri", URI, "--json")
    assert added.returncode == 0, added.stderr
    assert set(json.loads(added.stdout)) == {"client_id", "client_secret"}

    refused = _manage(tmp_path, "clients", "add", "Other", "--redirect-uri", "myapp:/cb")
    assert refused.returncode == 1
    assert "CommandError: redirect_uris: 'myapp:/cb' uses the scheme 'myapp'" in refused.stderr

    unknown = _manage(tmp_path, "clients", "show", "nope")
    assert unknown.returncode == 1 and "No client has client_id 'nope'" in unknown.stderr

    usage = _manage(tmp_path, "clients", "frobnicate")
    assert usage.returncode == 2 and "invalid choice: 'frobnicate'" in usage.stderr

    for result in (refused, unknown, usage):
        assert "Traceback" not in result.stderr + result.stdout


# demo_clients

@pytest.fixture
def var_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KUNCI_DEMO", "1")
    monkeypatch.setattr(demo_clients, "VAR_DIR", tmp_path)
    return tmp_path


def _stored(var_dir, name: str) -> dict[str, str]:
    return json.loads((var_dir / f"demo-client-{name}.json").read_text())


def test_demo_clients_runs_only_in_demo_mode(monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)

    with pytest.raises(CommandError, match="only in demo mode"):
        run("demo_clients")
    assert not Client.objects.exists()


def test_demo_clients_registers_both_demo_apps_and_keeps_their_credentials_owner_only(var_dir):
    out = run("demo_clients")

    for name, port in (("app1", 8082), ("app2", 8083)):
        stored = _stored(var_dir, name)
        assert set(stored) == {"client_id", "client_secret"}
        assert stat.S_IMODE((var_dir / f"demo-client-{name}.json").stat().st_mode) == 0o600
        client = Client.objects.get(name=name)
        assert client.client_id == stored["client_id"] and client.check_client_secret(stored["client_secret"])
        assert client.redirect_uris == [f"http://127.0.0.1:{port}/oidc/callback"]
        assert client.post_logout_redirect_uris == [f"http://127.0.0.1:{port}/"]
        assert client.backchannel_logout_uri == f"http://127.0.0.1:{port}/backchannel-logout"
        assert client.trusted and client.accepts_shared_audience and not client.is_public
        assert f"demo client: {name}  client_id: {client.client_id}" in out
        assert stored["client_secret"] not in out


def test_demo_clients_is_idempotent_and_keeps_the_credentials_across_runs(var_dir):
    run("demo_clients")
    first = _stored(var_dir, "app1")

    run("demo_clients")

    assert _stored(var_dir, "app1") == first
    assert Client.objects.count() == 2
    assert Client.objects.get(name="app1").check_client_secret(first["client_secret"])


def test_demo_clients_issues_a_new_secret_when_var_lost_it(var_dir):
    run("demo_clients")
    first = _stored(var_dir, "app1")
    (var_dir / "demo-client-app1.json").unlink()

    run("demo_clients")

    second = _stored(var_dir, "app1")
    client = Client.objects.get(name="app1")
    assert second["client_id"] == first["client_id"]
    assert client.check_client_secret(second["client_secret"]) and not client.check_client_secret(first["client_secret"])


def test_demo_clients_follows_the_apps_to_new_ports_and_paths(var_dir):
    run("demo_clients")

    run("demo_clients", "--app", "app1=http://127.0.0.1:9082/", "--callback-path", "/auth/cb", "--post-logout-path", "/bye",
        "--backchannel-logout-path", "/oidc/logout")

    client = Client.objects.get(name="app1")
    assert client.redirect_uris == ["http://127.0.0.1:9082/auth/cb"]
    assert client.post_logout_redirect_uris == ["http://127.0.0.1:9082/bye"]
    assert client.backchannel_logout_uri == "http://127.0.0.1:9082/oidc/logout"


@pytest.mark.parametrize("spec", ["app1", "=http://127.0.0.1:1", "app1="])
def test_demo_clients_refuses_a_malformed_app(var_dir, spec):
    with pytest.raises(CommandError, match="--app takes NAME=BASE_URL"):
        run("demo_clients", "--app", spec)


def test_demo_clients_refuses_a_bad_base_url(var_dir):
    with pytest.raises(CommandError, match="redirect_uris: 'ftp://x/oidc/callback' uses the scheme 'ftp'"):
        run("demo_clients", "--app", "app1=ftp://x")
    assert not Client.objects.exists()


# The README's examples, run as written.

def readme_client_commands() -> list[list[str]]:
    """Return the `manage.py clients ...` commands of the README's "Registering a client" block."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- clients:start -->\s*```sh\n(.*?)```\s*<!-- clients:end -->", text, re.S)
    assert block, "README.md has no clients block"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    return [shlex.split(line)[1:] for line in lines if line.startswith("manage.py ")]


def test_the_readme_examples_register_clients_outside_demo_mode(monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)
    commands = readme_client_commands()

    outputs = [run(*command) for command in commands]

    assert len(commands) == 4
    assert sorted(Client.objects.values_list("name", flat=True)) == ["Billing", "CLI", "Dashboard", "Reports"]
    assert set(json.loads(outputs[1])) == {"client_id", "client_secret"}
    assert set(json.loads(outputs[2])) == {"client_id"}
    assert Client.objects.get(name="Dashboard").is_public
    assert Client.objects.get(name="Billing").trusted
