"""What is installed where: metadata, extras, the service definitions beside the code."""

from __future__ import annotations

import plistlib
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_spdx_with_its_file() -> None:
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_heavy_sdks_are_extras_and_the_test_extra_has_them_all() -> None:
    base = " ".join(PROJECT["dependencies"]).lower()
    extras = PROJECT["optional-dependencies"]
    # requests (small) is in the base: iCalendar feeds, the simplest start, need it.
    for sdk in ("google-api-python-client", "msal", "caldav"):
        assert sdk not in base
    assert any(d.startswith("google-api-python-client") for d in extras["google"])
    assert any(d.startswith("msal") for d in extras["microsoft"])
    assert any(d.startswith("caldav") for d in extras["caldav"])
    assert "interview-followup[google,microsoft,caldav]" in extras["test"]


def test_the_shipped_example_is_the_documented_one() -> None:
    assert (ROOT / "daemon" / "config.example.toml").read_text() == (
        ROOT / "config.example.toml").read_text()


def test_systemd_and_launchd_run_what_pipx_installs() -> None:
    unit = (ROOT / "systemd" / "interview-followup.service").read_text()
    assert re.search(r"^ExecStart=%h/\.local/bin/followup run$", unit, re.M)
    with (ROOT / "systemd" / "launchd" / "io.github.interview-followup.plist").open("rb") as f:
        agent = plistlib.load(f)
    assert agent["ProgramArguments"] == ["/Users/YOU/.local/bin/followup", "run"]
    assert agent["KeepAlive"] == {"SuccessfulExit": False} and agent["Umask"] == 0o077
    assert agent["Label"] in (ROOT / "docs" / "macos.md").read_text()
