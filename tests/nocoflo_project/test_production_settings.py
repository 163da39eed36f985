"""Production settings: with DEBUG off, a guessable SECRET_KEY stops start-up, cookies are https
only, and the README's production settings pass `manage.py check --deploy` without a warning.

Each test loads the settings in a new process, from an environment of its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.utils import get_random_secret_key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = get_random_secret_key()
SHOWN = [
    "DEBUG",
    "SECRET_KEY",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF",
]


def clean_env(data_dir: Path, **values: str) -> dict[str, str]:
    """This process's environment without any Nocoflo or Django setting, plus `values`."""
    drop = ("NOCOFLO_", "DATABASE_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_", "DJANGO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(NOCOFLO_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="nocoflo_project.settings")
    env.update(values)
    return env


def load_settings(data_dir: Path, **values: str) -> subprocess.CompletedProcess:
    """Import the settings in a new process; it prints the security settings as JSON."""
    script = (
        "import json\n"
        "from nocoflo_project import settings as s\n"
        f"print(json.dumps({{n: getattr(s, n) for n in {SHOWN!r}}}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean_env(data_dir, **values),
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(data_dir: Path, **values: str) -> dict:
    result = load_settings(data_dir, **values)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "key",
    [
        "short-but-secret",
        "django-insecure-" + "x1y2z3" * 10,  # Django's startproject key prefix
        "a" * 60 + "b" * 3,  # long, but two different characters
        "changeme",
    ],
)
def test_a_guessable_secret_key_stops_start_up_without_debug(tmp_path, key):
    result = load_settings(tmp_path, SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not a real secret" in result.stderr
    # DEBUG allows any key (a developer's machine).
    assert loaded(tmp_path, SECRET_KEY=key, DEBUG="true")["SECRET_KEY"] == key


def test_a_weak_key_in_the_data_directory_is_refused_too(tmp_path):
    (tmp_path / "secret_key").write_text("kept-but-short\n")
    result = load_settings(tmp_path)
    assert result.returncode != 0
    assert str(tmp_path / "secret_key") in result.stderr


def test_a_real_key_or_a_generated_one_starts(tmp_path):
    assert loaded(tmp_path, SECRET_KEY=STRONG_KEY)["SECRET_KEY"] == STRONG_KEY
    # Without SECRET_KEY Nocoflo generates one into the data directory (a fresh scripts/run).
    generated = loaded(tmp_path)["SECRET_KEY"]
    assert generated == (tmp_path / "secret_key").read_text().strip()
    assert len(generated) >= 50


def test_a_key_starting_with_a_dollar_sign_is_taken_as_it_is(tmp_path):
    # Django's generator draws "$" as a key's first character once in fifty keys.
    key = "$" + STRONG_KEY.lstrip("$")
    assert loaded(tmp_path, SECRET_KEY=key)["SECRET_KEY"] == key
    assert not (tmp_path / "secret_key").exists()


def test_cookies_are_https_only_when_debug_is_off(tmp_path):
    production = loaded(tmp_path, SECRET_KEY=STRONG_KEY)
    assert production["DEBUG"] is False
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["X_FRAME_OPTIONS"] == "DENY"
    assert production["SECURE_CONTENT_TYPE_NOSNIFF"] is True

    # Plain http (scripts/run) turns them off explicitly; DEBUG turns them off by default.
    plain = loaded(tmp_path, SECRET_KEY=STRONG_KEY, NOCOFLO_SECURE_COOKIES="false")
    assert (plain["SESSION_COOKIE_SECURE"], plain["CSRF_COOKIE_SECURE"]) == (False, False)
    debug = loaded(tmp_path, DEBUG="true")
    assert (debug["SESSION_COOKIE_SECURE"], debug["CSRF_COOKIE_SECURE"]) == (False, False)
    assert loaded(tmp_path, DEBUG="true", NOCOFLO_SECURE_COOKIES="true")["SESSION_COOKIE_SECURE"]


def test_scripts_run_serves_plain_http_with_cookies_that_work_there():
    run = (ROOT / "scripts" / "run").read_text()
    assert 'export NOCOFLO_SECURE_COOKIES="${NOCOFLO_SECURE_COOKIES:-false}"' in run
    assert run.index("NOCOFLO_SECURE_COOKIES") < run.index("manage.py serve --prepare")


def readme_production_settings() -> dict[str, str]:
    """The `NAME=value` lines of the README's Production section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Production", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    values = {}
    for line in block.splitlines():
        setting = line.split("#", 1)[0].strip()
        if setting:
            name, value = setting.split("=", 1)
            values[name] = value.strip()
    return values


def test_the_documented_production_settings_pass_check_deploy(tmp_path):
    values = readme_production_settings()
    assert values["DEBUG"] == "false"
    assert values["NOCOFLO_HSTS_SECONDS"] == "31536000"
    values["SECRET_KEY"] = STRONG_KEY  # the README's placeholder
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=clean_env(tmp_path, **values),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNINGS" not in output and "ERRORS" not in output


def test_without_them_check_deploy_names_what_is_missing(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=clean_env(tmp_path, SECRET_KEY=STRONG_KEY),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    # Only the settings that need TLS in front are missing; cookies and headers are already right.
    assert set(re.findall(r"security\.W\d+", output)) == {"security.W004", "security.W008"}
