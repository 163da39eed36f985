import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Accounts are created in most tests here; a cheap hasher keeps the folder fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
