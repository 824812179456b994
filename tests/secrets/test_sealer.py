"""Another area's values sealed with the secrets key (KeySealer: text that names its key) are
opened again, and re-sealed by a key rotation once its column is in SEALED_COLUMNS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabro.secrets import keyfile
from fabro.secrets.box import CannotOpen
from fabro.secrets.sealer import KeySealer
from fabro.secrets.vault import Vault
from fabro.storage import secrets as secret_rows
from fabro.storage.db import Database
from fabro.storage.secrets import SealedColumn, SecretRows


@pytest.fixture
async def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "fabro.db")
    await database.write(
        lambda tx: tx.execute("CREATE TABLE hooks (id TEXT PRIMARY KEY, secret TEXT, sealed INT)")
    )
    hooks = SealedColumn("hooks", "id", "secret", None, where="sealed = 1")
    monkeypatch.setattr(secret_rows, "SEALED_COLUMNS", (*secret_rows.SEALED_COLUMNS, hooks))
    try:
        yield database
    finally:
        await database.close()


async def test_sealed_text_opens_again_and_a_rotation_reseals_it(
    db: Database, tmp_path: Path
) -> None:
    vault = Vault(SecretRows(db), keyfile.key_path(tmp_path))
    sealer = KeySealer(vault)
    sealed = sealer.seal("whsec-signing-secret")  # the key file is made on first use
    assert "whsec" not in sealed and sealer.open(sealed) == "whsec-signing-secret"
    await vault.set("DB_PASSWORD", "correct-horse-battery")
    await db.write(
        lambda tx: tx.execute(
            "INSERT INTO hooks VALUES ('h1', ?, 1), ('h2', 'plain-secret', 0)", [sealed]
        )
    )
    count, key_id = await vault.rotate()
    assert count == 2
    rows = {r["id"]: r["secret"] for r in await db.fetchall("SELECT id, secret FROM hooks")}
    assert rows["h2"] == "plain-secret"  # not sealed: not touched
    assert rows["h1"] != sealed and rows["h1"].startswith(f"{key_id}.")
    # After a restart, with the new key file alone.
    again = KeySealer(Vault(SecretRows(db), keyfile.key_path(tmp_path)))
    assert again.open(rows["h1"]) == "whsec-signing-secret"
    with pytest.raises(CannotOpen):
        again.open(sealed)  # the old key is gone
    with pytest.raises(CannotOpen):
        again.open("not sealed at all")
