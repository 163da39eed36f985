"""Settings: the secret key is taken from the environment or generated once and kept."""

from __future__ import annotations

import stat

import pytest

from nocoflo_project import settings as settings_module

pytestmark = pytest.mark.unit


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(settings_module, "DATA_DIR", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return tmp_path


def test_a_secret_key_is_generated_once_and_reused(data_dir):
    first = settings_module._secret_key()

    path = data_dir / "secret_key"
    assert path.read_text() == first
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings_module._secret_key() == first
    assert path.read_text() == first


def test_a_kept_key_is_read_without_surrounding_whitespace(data_dir):
    (data_dir / "secret_key").write_text("  kept-key-value\n")
    assert settings_module._secret_key() == "kept-key-value"


def test_the_environment_wins(data_dir, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert settings_module._secret_key() == "from-the-environment"
    assert not (data_dir / "secret_key").exists()


def test_another_env_reader_can_be_swapped_in(data_dir, monkeypatch):
    import environ

    class FixedEnv(environ.Env):
        ENVIRON = {"SECRET_KEY": "fixed"}

    monkeypatch.setattr(settings_module, "env", FixedEnv())
    assert settings_module._secret_key() == "fixed"
