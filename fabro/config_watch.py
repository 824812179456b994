"""Hot reload of server.toml's [llm] section (config-and-auth.md §6); other changes are reported
as needing a restart."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fabro.config import LlmSettings, Settings, load_settings
from fabro.errors import StartupError

log = logging.getLogger(__name__)


class ConfigWatcher:
    """Re-reads the config file when it changes; applies [llm], warns about the rest."""

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        flags: Mapping[str, Any],
        on_llm_change: Callable[[LlmSettings], None],
    ) -> None:
        assert settings.config_path is not None
        self.path = settings.config_path
        self.current = settings
        self.env = env
        self.flags = flags
        self.on_llm_change = on_llm_change
        self._stamp = self._stat()

    def _stat(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def check_once(self) -> bool:
        """Reload if the file changed; returns True when a reload was attempted."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = load_settings(self.path, self.env, self.flags).settings
        except StartupError as exc:
            log.error("error: %s", exc)
            return True
        for key in _changed_keys(self.current, fresh):
            log.warning("warning: change to %s needs a restart", key)
        if fresh.llm != self.current.llm:
            self.on_llm_change(fresh.llm)
            log.info("reloaded [llm] from %s", self.path)
        self.current = fresh
        return True


def _changed_keys(old: Settings, new: Settings) -> list[str]:
    changed = []
    dotted = {"log_level": "log.level", "access_log": "log.access"}
    for name in ("data_dir", "workflows_dir", "max_concurrent_runs", "log_level", "access_log"):
        if getattr(old, name) != getattr(new, name):
            changed.append(dotted.get(name, name))
    if old.api != new.api:
        changed.append("api")
    if old.web != new.web:
        changed.append("web")
    if old.governance.policy != new.governance.policy:
        changed.append("policy")  # its file's rules reload on their own (PolicySource)
    return changed
