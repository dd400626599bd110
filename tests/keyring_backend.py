"""A keyring backend for tests only: JSON in the file named by $FOLLOWUP_TEST_KEYRING.

Subprocesses select it with ``PYTHON_KEYRING_BACKEND=tests.keyring_backend.FileKeyring``
(the project root on PYTHONPATH); in-process tests call :func:`use_file_keyring`.
It is viable only while $FOLLOWUP_TEST_KEYRING is set, so merely importing this
module never makes keyring's automatic choice pick it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import keyring.core
from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

if TYPE_CHECKING:
    import pytest

ENV = "FOLLOWUP_TEST_KEYRING"


class FileKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        if not os.environ.get(ENV):
            raise RuntimeError(f"${ENV} is not set")
        return 100

    @staticmethod
    def _path() -> Path:
        value = os.environ.get(ENV)
        if not value:
            raise RuntimeError(f"${ENV} is not set")
        return Path(value)

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data: dict[str, dict[str, str]] = json.loads(self._path().read_text("utf-8"))
        except FileNotFoundError:
            return {}
        return data

    def _dump(self, data: dict[str, dict[str, str]]) -> None:
        path = self._path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1), "utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data.setdefault(service, {})[username] = password
        self._dump(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if username not in data.get(service, {}):
            raise PasswordDeleteError(f"no {username!r} in {service!r}")
        del data[service][username]
        self._dump(data)


def use_file_keyring(monkeypatch: pytest.MonkeyPatch, path: Path) -> Path:
    """Make this process's keyring a FileKeyring at ``path`` until the test ends."""
    monkeypatch.setenv(ENV, str(path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", FileKeyring())
    return path


def stored(path: Path, service: str = "interview-followup") -> dict[str, str]:
    """What the test keyring at ``path`` holds for ``service``."""
    if not path.exists():
        return {}
    result: dict[str, str] = json.loads(path.read_text("utf-8")).get(service, {})
    return result
