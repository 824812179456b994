"""GET /settings (api.md §12): the effective configuration, never any key material."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from fabro.api.bodies.catalog import ServerConfiguration
from fabro.api.bodies.common import LlmConfig
from fabro.api.context import Handler, services
from fabro.config import Settings


def server_configuration(settings: Settings) -> ServerConfiguration:
    api: dict[str, Any] = {
        "base_url": settings.api.base_url,
        "authentication_strategies": list(settings.api.authentication_strategies),
    }
    tls = settings.api.tls
    if tls is not None:
        api["tls"] = {
            "cert": str(tls.cert),
            "key": "[redacted]",
            "ca": str(tls.ca) if tls.ca else None,
        }
        if tls.allowed_common_names is not None:
            api["tls"]["allowed_common_names"] = list(tls.allowed_common_names)
    jwt: dict[str, Any] = {"issuer": settings.api.jwt.issuer}
    if settings.api.jwt.audience:
        jwt["audience"] = settings.api.jwt.audience
    key_file = settings.api.jwt.public_key_file or settings.keys_dir / "jwt_ed25519.pub.pem"
    if settings.api.jwt.public_key_file or key_file.exists():
        jwt["public_key_file"] = str(key_file)
    api["jwt"] = jwt
    llm = services().llm_settings
    return ServerConfiguration(
        data_dir=str(settings.data_dir),
        max_concurrent_runs=settings.max_concurrent_runs,
        workflows_dir=str(settings.workflows_dir),
        web={
            "url": settings.web.url,
            "auth": {
                "provider": settings.web.auth.provider,
                "allowed_usernames": list(settings.web.auth.allowed_usernames),
            },
        },
        api=api,
        log={"level": settings.log_level, "access": settings.access_log},
        llm=LlmConfig(model=llm.model or UNSET, provider=llm.provider or UNSET)
        if llm.model or llm.provider
        else UNSET,
    )


async def retrieve_server_configuration() -> ServerConfiguration:
    return server_configuration(services().settings)


HANDLERS: dict[str, Handler] = {"retrieveServerConfiguration": retrieve_server_configuration}
