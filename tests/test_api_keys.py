"""API keys: hashed at rest, the CLI, the admin routes, revocation."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from pricebook import cli
from pricebook.db import make_engine, session_factory
from pricebook.models import ApiKey, AuditEntry
from tests.api_client import Api


def _rows(settings):
    engine = make_engine(settings)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
    finally:
        engine.dispose()


async def test_keys_are_stored_only_as_sha256(api: Api):
    rows = _rows(api.settings)
    assert len(rows) == 4
    for row in rows:
        secret = api.keys[row.role]
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in {row.key_hash, row.prefix, row.name}
        assert secret.startswith(row.prefix) and len(row.prefix) < len(secret) // 3


def test_cli_create_list_revoke(settings, capsys, monkeypatch):
    monkeypatch.setenv("PRICEBOOK_DATABASE_URL", settings.database_url)
    assert cli.main(["keys", "create", "--role", "reviewer", "--name", "desk tool"]) == 0
    out = capsys.readouterr().out
    key = out.strip().splitlines()[-1].split()[-1]
    assert key.startswith("pbk_")
    (row,) = _rows(settings)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and row.role == "reviewer"
    assert key not in str(vars(row))
    assert cli.main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "reviewer" in listing and "desk tool" in listing and key not in listing
    assert cli.main(["keys", "revoke", str(row.id)]) == 0
    assert "revoked" in capsys.readouterr().out
    assert cli.main(["keys", "list"]) == 0
    assert capsys.readouterr().out.strip() == "no keys"
    assert cli.main(["keys", "list", "--all"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert cli.main(["keys", "revoke", "999"]) == 1
    assert "no API key" in capsys.readouterr().err


async def test_admin_creates_and_revokes_keys(api: Api):
    created = await api.client.post(
        "/api/v1/keys", json={"name": "garage app", "role": "estimate_tool"}, headers=api.h("admin")
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret, key_id = body["secret"], body["key"]["id"]
    assert created.headers["cache-control"] == "no-store"
    me = await api.client.get("/api/v1/me", headers={"X-API-Key": secret})
    assert me.json()["name"] == "garage app"
    listing = (await api.get("/api/v1/keys", role="admin")).json()
    assert secret not in str(listing) and len(listing) == 5
    revoked = await api.client.delete(f"/api/v1/keys/{key_id}", headers=api.h("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    after = await api.client.get("/api/v1/me", headers={"X-API-Key": secret})
    assert after.status_code == 401
    assert (await api.client.delete("/api/v1/keys/999", headers=api.h("admin"))).status_code == 404
    bad = await api.client.post(
        "/api/v1/keys", json={"name": "x", "role": "root"}, headers=api.h("admin")
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "role"
    denied = await api.client.post(
        "/api/v1/keys", json={"name": "x", "role": "admin"}, headers=api.h("pricing_staff")
    )
    assert denied.status_code == 403
    engine = make_engine(api.settings)
    try:
        with session_factory(engine)() as session:
            actions = list(
                session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "api_key"))
            )
    finally:
        engine.dispose()
    assert actions.count("create") == 5 and actions.count("revoke") == 1
