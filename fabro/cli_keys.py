"""`fabro token` and `fabro certs init`: the server's authentication tooling
(config-and-auth.md §8), registered on the `fabro` group by fabro.cli."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from fabro.cli_options import data_dir_option, deprecated_alias, fail, option, take
from fabro.errors import StartupError


@click.command("token")
@option("--user", metavar="NAME", show_default="the OS user", help="The token's subject.")
@option("--ttl", metavar="DURATION", default="1h", help="Lifetime: 90s, 30m, 1h, 7d (at most 30d).")
@option(
    "--private-key", type=click.Path(path_type=Path), metavar="PATH",
    doc_envvar="FABRO_JWT_PRIVATE_KEY", show_default="<data_dir>/keys/jwt_ed25519.pem",
    help="Ed25519 private key file (PKCS#8 PEM); the variable holds the PEM itself.",
)  # fmt: skip
@deprecated_alias("--key", "--private-key", "private_key")
@option(
    "--issuer",
    metavar="ISS",
    doc_envvar="FABRO_JWT_ISSUER",
    show_default="[api.jwt] issuer, else fabro-web",
    help="The token's iss claim.",
)
@option(
    "--audience",
    metavar="AUD",
    show_default="[api.jwt] audience, if any",
    help="The token's aud claim.",
)
@option(
    "--link",
    is_flag=True,
    help="Print a one-time sign-in link to the web UI instead (valid 15 minutes).",
)
@option(
    "--server",
    metavar="URL",
    doc_envvar="FABRO_SERVER",
    show_default="the server running on the data directory, else the configured URL",
    help="With --link: the server the link opens.",
)
@data_dir_option("Data directory holding keys/jwt_ed25519.pem.")
def token_command(
    user: str | None,
    ttl: str,
    issuer: str | None,
    audience: str | None,
    link: bool,
    server: str | None,
    data_dir: str | None,
    **params: Any,
) -> None:
    """Print a bearer token signed with the server's JWT private key (or, with --link, a
    one-time sign-in link to the web UI)."""
    from fabro.auth.tokens import cli_token

    key = take(params, "private_key")
    if server is not None and not link:
        fail("--server applies only with --link")
    try:
        token = cli_token(
            user=user,
            ttl=ttl,
            key=Path(key) if key is not None else None,
            issuer=issuer,
            audience=audience,
            data_dir=Path(data_dir) if data_dir else None,
            env=os.environ,
            link_to=(server or os.environ.get("FABRO_SERVER") or "auto") if link else None,
        )
    except StartupError as exc:
        fail(str(exc))
    click.echo(token)


@click.group("certs")
def certs_group() -> None:
    """Local certificates for mutual TLS."""


@certs_group.command("init")
@option(
    "--dir",
    "directory",
    default="certs",
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="Folder to write the CA, server and client files to.",
)
@option(
    "--client-cn",
    "client_cns",
    multiple=True,
    metavar="CN",
    show_default="the OS user",
    help="Common name of a client certificate (repeatable).",
)
@option(
    "--days",
    default=825,
    metavar="N",
    type=click.IntRange(min=1),
    help="Validity of the certificates, in days.",
)
@option("--force", is_flag=True, help="Overwrite existing files.")
def certs_init_command(
    directory: Path, client_cns: tuple[str, ...], days: int, force: bool
) -> None:
    """Create a local CA, a server certificate for localhost and client certificates."""
    import getpass

    from fabro.auth.certs import CertsExistError, init_certs, toml_snippets

    try:
        files = init_certs(directory, client_cns or (getpass.getuser(),), days=days, force=force)
    except CertsExistError as exc:
        fail(f"{exc} already exists; pass --force to overwrite")
    except ValueError as exc:
        fail(str(exc))
    click.echo(f"Created certificates in {files.directory}")
    click.echo("")
    click.echo(toml_snippets(files), nl=False)
