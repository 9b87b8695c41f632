"""The connection: the Kitaru CLI's, read from the same places.

``KITARU_SERVER_URL``, ``KITARU_AUTH_TOKEN`` and ``KITARU_PROJECT`` from the
environment, each overriding the config file ``kitaru login`` writes
(``config_path()``, the Go CLI's ``pkg/cli`` config); ``KitaruClient``
arguments override both.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any, Optional

from kitaru.errors import ConfigurationError

__all__ = ["Connection", "config_path", "ENV_SERVER_URL", "ENV_AUTH_TOKEN", "ENV_PROJECT", "ENV_CONFIG_DIR"]

ENV_SERVER_URL = "KITARU_SERVER_URL"
ENV_AUTH_TOKEN = "KITARU_AUTH_TOKEN"
ENV_PROJECT = "KITARU_PROJECT"
ENV_CONFIG_DIR = "KITARU_CONFIG_DIR"
_LOGIN_HINT = '"kitaru login URL --api-key KEY --project P"'


def config_path() -> str:
    """The config file ``kitaru login`` writes: ``$KITARU_CONFIG_DIR/config.json``, else
    ``kitaru/config.json`` in the user config directory (Go's ``os.UserConfigDir``:
    ``$XDG_CONFIG_HOME`` or ``~/.config`` on Linux)."""
    directory = os.environ.get(ENV_CONFIG_DIR, "")
    if directory:
        return os.path.join(directory, "config.json")
    return os.path.join(_user_config_dir(), "kitaru", "config.json")


def _user_config_dir() -> str:
    if sys.platform == "win32":
        base = os.environ.get("AppData", "")
        if not base:
            raise ConfigurationError(f"find the Kitaru config directory: %AppData% is not set; set {ENV_CONFIG_DIR}")
        return base
    home = os.environ.get("HOME", "")
    if sys.platform == "darwin":
        if not home:
            raise ConfigurationError(f"find the Kitaru config directory: $HOME is not set; set {ENV_CONFIG_DIR}")
        return os.path.join(home, "Library", "Application Support")
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg:
        if not os.path.isabs(xdg):
            raise ConfigurationError(
                f"find the Kitaru config directory: $XDG_CONFIG_HOME is a relative path; set {ENV_CONFIG_DIR}"
            )
        return xdg
    if not home:
        raise ConfigurationError(
            f"find the Kitaru config directory: neither $XDG_CONFIG_HOME nor $HOME is set; set {ENV_CONFIG_DIR}"
        )
    return os.path.join(home, ".config")


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where the Kitaru server is, the credential (an API key ``kat_…`` or a token)
    and the project. ``sources`` says where each value came from: ``argument``,
    ``env``, ``file`` or ``not set``."""

    server_url: str
    auth_token: str = dataclasses.field(repr=False)
    project: str
    sources: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)

    @classmethod
    def load(
        cls, server_url: Optional[str] = None, token: Optional[str] = None, project: Optional[str] = None
    ) -> "Connection":
        """Each value from the argument, else the environment, else the config file.
        Raises ConfigurationError when the server URL or the credential is missing,
        naming what to set, or when the config file cannot be read."""
        path = config_path()
        saved: dict[str, Any] = {}
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            saved = {}
        except (OSError, ValueError) as e:
            raise ConfigurationError(
                f"the Kitaru config {path} is not readable JSON ({e}): run \"kitaru logout\" and log in again"
            ) from None
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for key, arg, env in (
            ("server_url", server_url, ENV_SERVER_URL),
            ("auth_token", token, ENV_AUTH_TOKEN),
            ("project", project, ENV_PROJECT),
        ):
            env_value = os.environ.get(env, "")
            file_value = saved.get(key)
            if arg:
                values[key], sources[key] = arg, "argument"
            elif env_value:
                values[key], sources[key] = env_value, "env"
            elif isinstance(file_value, str) and file_value:
                values[key], sources[key] = file_value, "file"
            else:
                values[key], sources[key] = "", "not set"
        conn = cls(sources=sources, **values)
        conn.require()
        return conn

    def require(self) -> None:
        """Raise ConfigurationError naming what to set when the URL or credential is missing."""
        if not self.server_url and not self.auth_token:
            raise ConfigurationError(f"no Kitaru server: run {_LOGIN_HINT} or set {ENV_SERVER_URL} and {ENV_AUTH_TOKEN}")
        if not self.server_url:
            raise ConfigurationError(f"no Kitaru server URL: set {ENV_SERVER_URL} or run {_LOGIN_HINT}")
        if not self.auth_token:
            raise ConfigurationError(
                f"no credentials for the Kitaru server at {self.server_url}: set {ENV_AUTH_TOKEN} "
                f"to an API key or token, or run {_LOGIN_HINT}"
            )
        from urllib.parse import urlsplit

        parts = urlsplit(self.server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"server URL {self.server_url!r} is invalid: set {ENV_SERVER_URL} to http(s)://host[:port]"
            )
