"""API keys: shown once, stored hashed, verified by hash, revocable; the CLI around them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import sqlalchemy as sa

from lamina.commands.keys import run_keys_command
from lamina.config import Settings
from lamina.jobs.keys import KeyStore, hash_secret
from lamina.jobs.models import api_keys
from lamina.jobs.store import JobStore


def test_create_verify_revoke(store: JobStore) -> None:
    keys = KeyStore(store)
    key, secret = keys.create("ci")
    assert secret.startswith("lam_") and len(secret) > 40
    assert key.prefix == secret[:12] and key.active and key.name == "ci"
    assert keys.verify(secret) == key
    assert keys.verify(secret + "x") is None
    assert keys.verify("lam_" + "A" * 43) is None
    assert keys.verify("") is None
    assert keys.count_active() == 1
    assert keys.revoke(key.id)
    assert not keys.revoke(key.id)
    assert keys.verify(secret) is None
    assert keys.count_active() == 0
    [listed] = keys.list()
    assert listed.id == key.id and not listed.active


def test_only_a_hash_of_the_secret_is_stored(store: JobStore) -> None:
    _, secret = KeyStore(store).create("a")
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(api_keys)).one()
    assert secret not in [str(v) for v in row]
    assert row.secret_hash == hash_secret(secret)


def test_names_are_checked(store: JobStore) -> None:
    keys = KeyStore(store)
    with pytest.raises(ValueError):
        keys.create("   ")
    with pytest.raises(ValueError):
        keys.create("x" * 201)


def test_keys_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path)
    assert run_keys_command(settings, argparse.Namespace(keys_action="list")) == 0
    assert "no API keys" in capsys.readouterr().out
    assert run_keys_command(settings, argparse.Namespace(keys_action="create", name="me")) == 0
    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    key_id = out.split()[1]
    store = JobStore(settings.resolved_database_url)
    assert KeyStore(store).verify(secret) is not None
    assert run_keys_command(settings, argparse.Namespace(keys_action="list")) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "active" in listing and secret not in listing
    revoke = argparse.Namespace(keys_action="revoke", key_id=key_id)
    assert run_keys_command(settings, revoke) == 0
    assert run_keys_command(settings, revoke) == 1
    assert "no active key" in capsys.readouterr().err
    assert KeyStore(store).verify(secret) is None
    store.dispose()
