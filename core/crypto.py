"""Encryption at rest for secrets Nocoflo must keep (datasource passwords).

The key is NOCOFLO_ENCRYPTION_KEY when set (a Fernet key: `python -c "from cryptography.fernet
import Fernet; print(Fernet.generate_key().decode())"`), otherwise one derived from SECRET_KEY.
Changing the key makes stored passwords unreadable: they must be entered again.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the current key."""


def _fernet() -> Fernet:
    key = settings.NOCOFLO_ENCRYPTION_KEY
    if not key:
        digest = hashlib.sha256(b"nocoflo-secrets:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key.encode() if isinstance(key, str) else key)


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode() if secret else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "A stored password cannot be decrypted: the encryption key changed. Enter it again."
        ) from exc
