"""Basic-auth hashes for the web.config files of Prometheus and Alertmanager (exporter-toolkit format).

bcrypt hashes normally carry a random salt, which would rewrite web.yml (and reload the services) on every run.
The salt here is derived from a per-host seed and the password, so a re-run with the same password produces the
same file (changed=0) while a password change produces a new hash. The hash is still a real bcrypt hash
verifiable by the services.
"""
from __future__ import annotations

import hashlib

import bcrypt

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _salt(seed: str, password: str, rounds: int) -> bytes:
    digest = hashlib.sha256(f"{seed}\0{password}".encode()).digest()
    chars = "".join(_BCRYPT_ALPHABET[b % 64] for b in digest[:21]) + _BCRYPT_ALPHABET[(digest[21] % 4) * 16]
    return f"$2b${rounds:02d}${chars}".encode()


def bcrypt_hash(password: str, seed: str, rounds: int = 10) -> str:
    """Deterministic bcrypt hash of `password` for `seed` (e.g. project + host)."""
    if not password:
        raise ValueError("empty password")
    return bcrypt.hashpw(password.encode(), _salt(seed, password, rounds)).decode()


def verify(password: str, hashed: str) -> bool:
    return bcrypt.checkpw(password.encode(), hashed.encode())
