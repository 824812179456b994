"""The vault on a real SQLite file and a real key file: values sealed at rest, the key file
0600 made on first use, rotation in one transaction, a rotation a crash interrupted finished
or undone at the next open, and every value redacted from the moment it is set."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fabro.events.redact import REDACTED, Redactor
from fabro.secrets import keyfile
from fabro.secrets.box import SecretKey
from fabro.secrets.source import MissingSecret
from fabro.secrets.vault import KeyUnavailable, Vault
from fabro.storage.db import Database
from fabro.storage.secrets import SecretRows

VALUES = {
    "DB_PASSWORD": "correct-horse-battery-staple",
    "API_TOKEN": "tok-0123456789abcdef",
    "MULTI_LINE": "first line of it\nsecond line of it",
}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "fabro.db")
    try:
        yield database
    finally:
        await database.close()


def vault_of(db: Database, tmp_path: Path, redactor: Redactor | None = None) -> Vault:
    return Vault(SecretRows(db), keyfile.key_path(tmp_path), redactor)


async def sealed_rows(db: Database) -> dict[str, tuple[bytes, str]]:
    rows = await db.fetchall("SELECT name, ciphertext, key_id FROM secrets")
    return {row["name"]: (bytes(row["ciphertext"]), row["key_id"]) for row in rows}


@pytest.mark.parametrize("umask", [0o000, 0o022])
async def test_the_key_file_is_made_on_first_use_owner_only(
    db: Database, tmp_path: Path, umask: int
) -> None:
    vault = vault_of(db, tmp_path)
    path = keyfile.key_path(tmp_path)
    await vault.open()
    assert not path.exists()  # opening makes nothing
    old = os.umask(umask)
    try:
        await vault.set("DB_PASSWORD", VALUES["DB_PASSWORD"])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["secrets.key"]  # no temporary left
    before = path.read_bytes()
    await vault.set("API_TOKEN", VALUES["API_TOKEN"])
    assert path.read_bytes() == before  # made once, never replaced by a set


async def test_values_are_stored_sealed_and_read_back(db: Database, tmp_path: Path) -> None:
    vault = vault_of(db, tmp_path)
    for name, value in VALUES.items():
        assert (await vault.set(name, value))[1] is True
    info, created = await vault.set("API_TOKEN", "tok-replaced-value-1")
    assert created is False and info.name == "API_TOKEN"
    assert await vault.values(["DB_PASSWORD", "API_TOKEN"]) == {
        "DB_PASSWORD": VALUES["DB_PASSWORD"],
        "API_TOKEN": "tok-replaced-value-1",
    }
    await db.close()
    stored = database_bytes(tmp_path)
    for value in [*VALUES.values(), "tok-replaced-value-1"]:
        assert value.encode() not in stored


def database_bytes(folder: Path) -> bytes:
    """The database file with its WAL and shared-memory files."""
    return b"".join(path.read_bytes() for path in folder.glob("fabro.db*"))


async def test_a_missing_secret_names_itself_and_the_stage(db: Database, tmp_path: Path) -> None:
    vault = vault_of(db, tmp_path)
    await vault.set("DB_PASSWORD", VALUES["DB_PASSWORD"])
    with pytest.raises(MissingSecret) as missing:
        await vault.values(["DB_PASSWORD", "API_TOKEN"])
    assert missing.value.message("deploy") == (
        "Secret 'API_TOKEN' is not set (stage 'deploy' needs it)."
    )
    assert await vault.delete("DB_PASSWORD") is True
    assert await vault.delete("DB_PASSWORD") is False
    with pytest.raises(MissingSecret):
        await vault.values(["DB_PASSWORD"])


async def test_names_must_be_environment_variable_names(db: Database, tmp_path: Path) -> None:
    vault = vault_of(db, tmp_path)
    for bad in ("", "9LIVES", "A-B", "A B", "x" * 129, "É"):
        with pytest.raises(ValueError):
            await vault.set(bad, "long enough value")
    await vault.set("_" + "x" * 127, "long enough value")


async def test_a_value_is_redacted_from_the_moment_it_is_set(db: Database, tmp_path: Path) -> None:
    redactor = Redactor()
    vault = vault_of(db, tmp_path, redactor)
    text = f"db ({VALUES['DB_PASSWORD']}) here"
    assert redactor.text(f"x {VALUES['API_TOKEN']} y") == f"x {VALUES['API_TOKEN']} y"
    await vault.set("API_TOKEN", VALUES["API_TOKEN"])
    await vault.set("MULTI_LINE", VALUES["MULTI_LINE"])
    assert redactor.text(f"x {VALUES['API_TOKEN']} y") == f"x {REDACTED} y"
    assert redactor.text("a second line of it") == f"a {REDACTED}"  # each line of it too
    # A new redactor (a restart) learns every stored value when the vault opens.
    await vault.set("DB_PASSWORD", VALUES["DB_PASSWORD"])
    fresh = Redactor()
    await vault_of(db, tmp_path, fresh).open()
    assert fresh.text(text) == f"db ({REDACTED}) here"
    assert fresh.text(f"[{VALUES['API_TOKEN']}]") == f"[{REDACTED}]"
    key_text = keyfile.key_path(tmp_path).read_text().strip()
    assert fresh.text(f"key {key_text}") == f"key {REDACTED}"  # the key file's text as well


async def test_rotation_reseals_every_value_and_replaces_the_key(
    db: Database, tmp_path: Path
) -> None:
    redactor = Redactor()
    vault = vault_of(db, tmp_path, redactor)
    for name, value in VALUES.items():
        await vault.set(name, value)
    path = keyfile.key_path(tmp_path)
    old_key, before = path.read_text(), await sealed_rows(db)
    count, key_id = await vault.rotate()
    after = await sealed_rows(db)
    assert count == len(VALUES)
    assert {row[1] for row in after.values()} == {key_id} != {row[1] for row in before.values()}
    assert all(after[name][0] != before[name][0] for name in VALUES)  # old ciphertexts gone
    assert path.read_text() != old_key and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SecretKey.from_text(path.read_text()).id == key_id
    assert not keyfile.next_path(path).exists()
    assert await vault.values(list(VALUES)) == VALUES  # values unchanged
    # A restart reads them with the new key file alone.
    assert await vault_of(db, tmp_path).values(list(VALUES)) == VALUES
    assert redactor.text(f"k={path.read_text().strip()}") == f"k={REDACTED}"


async def test_rotation_is_one_transaction_all_or_nothing(db: Database, tmp_path: Path) -> None:
    vault = vault_of(db, tmp_path)
    for name, value in VALUES.items():
        await vault.set(name, value)
    # One value that no key opens (tampered with): re-sealing it fails, so nothing changes.
    await db.write(
        lambda tx: tx.execute(
            "UPDATE secrets SET ciphertext = zeroblob(64) WHERE name = 'MULTI_LINE'"
        )
    )
    path = keyfile.key_path(tmp_path)
    key, before = path.read_text(), await sealed_rows(db)
    with pytest.raises(KeyUnavailable, match="nothing changed"):
        await vault.rotate()
    assert await sealed_rows(db) == before  # the rows re-sealed before the bad one rolled back
    assert path.read_text() == key
    assert not keyfile.next_path(path).exists()
    assert await vault.values(["DB_PASSWORD", "API_TOKEN"]) == {
        "DB_PASSWORD": VALUES["DB_PASSWORD"],
        "API_TOKEN": VALUES["API_TOKEN"],
    }


async def test_a_rotation_stopped_after_its_commit_is_finished_at_open(
    db: Database, tmp_path: Path
) -> None:
    vault = vault_of(db, tmp_path)
    for name, value in VALUES.items():
        await vault.set(name, value)
    path = keyfile.key_path(tmp_path)
    old = SecretKey.from_text(path.read_text())
    new = SecretKey.generate()
    # Steps 1 and 2 of a rotation, then the crash: the new key waits beside the old one.
    keyfile.write_key(keyfile.next_path(path), new)
    await SecretRows(db).reseal_all(lambda sealed, _: (new.seal(old.open(sealed)), new.id), new.id)
    restarted = vault_of(db, tmp_path)
    assert await restarted.open() == len(VALUES)
    assert SecretKey.from_text(path.read_text()).id == new.id
    assert not keyfile.next_path(path).exists()
    assert await restarted.values(list(VALUES)) == VALUES


async def test_a_rotation_stopped_before_its_commit_is_undone_at_open(
    db: Database, tmp_path: Path
) -> None:
    vault = vault_of(db, tmp_path)
    for name, value in VALUES.items():
        await vault.set(name, value)
    path = keyfile.key_path(tmp_path)
    old_text = path.read_text()
    keyfile.write_key(keyfile.next_path(path), SecretKey.generate())  # step 1 only
    restarted = vault_of(db, tmp_path)
    await restarted.open()
    assert path.read_text() == old_text
    assert not keyfile.next_path(path).exists()
    assert await restarted.values(list(VALUES)) == VALUES


async def test_a_lost_key_file_fails_the_stage_not_the_server(db: Database, tmp_path: Path) -> None:
    await vault_of(db, tmp_path).set("DB_PASSWORD", VALUES["DB_PASSWORD"])
    keyfile.key_path(tmp_path).unlink()
    restarted = vault_of(db, tmp_path)
    assert await restarted.open() == 1  # logged, not raised
    with pytest.raises(MissingSecret, match="cannot be read"):
        await restarted.values(["DB_PASSWORD"])
    with pytest.raises(KeyUnavailable):
        await restarted.rotate()


async def test_provider_keys_come_from_secrets_only_when_the_environment_lacks_them(
    db: Database, tmp_path: Path
) -> None:
    vault = vault_of(db, tmp_path)
    await vault.set("ANTHROPIC_API_KEY", "sk-ant-from-the-vault")
    await vault.set("OPENAI_API_KEY", "sk-openai-from-the-vault")
    env = {"ANTHROPIC_API_KEY": "sk-ant-from-the-environment", "OPENAI_API_KEY": ""}
    assert await vault.provider_keys(env) == {"OPENAI_API_KEY": "sk-openai-from-the-vault"}
