"""What is installed where: metadata, extras, the service definitions beside the code."""

from __future__ import annotations

import ast
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


def test_the_shipped_service_files_are_those_of_systemd() -> None:
    """`followup service install` writes the package's copies (no checkout needed)."""
    shipped = ROOT / "daemon" / "files"
    assert (shipped / "interview-followup.service").read_text() == (
        ROOT / "systemd" / "interview-followup.service").read_text()
    assert (shipped / "io.github.interview-followup.plist").read_text() == (
        ROOT / "systemd" / "launchd" / "io.github.interview-followup.plist").read_text()


def test_systemd_and_launchd_run_what_pipx_installs() -> None:
    unit = (ROOT / "systemd" / "interview-followup.service").read_text()
    assert re.search(r"^ExecStart=%h/\.local/bin/followup run$", unit, re.M)
    with (ROOT / "systemd" / "launchd" / "io.github.interview-followup.plist").open("rb") as f:
        agent = plistlib.load(f)
    assert agent["ProgramArguments"] == ["/Users/YOU/.local/bin/followup", "run"]
    assert agent["KeepAlive"] == {"SuccessfulExit": False} and agent["Umask"] == 0o077
    assert agent["Label"] in (ROOT / "docs" / "macos.md").read_text()


def _imports(path: Path, package: str) -> list[str]:
    """The absolute module names ``path`` (a module of ``package``) imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append(".".join([*base, node.module] if node.module else base))
            else:
                found.append(node.module or "")
    return found


def _source_modules() -> list[tuple[Path, str]]:
    """Each .py file under daemon/ and providers/ with the package it is installed in."""
    found = []
    for folder in ("daemon", "providers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).parent.parts
            found.append((path, ".".join(("interview_followup", *parts))))
    return found


def test_every_source_package_is_installed_under_our_own_name() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    on_disk = {".".join(("interview_followup", *init.parent.relative_to(ROOT).parts))
               for folder in ("daemon", "providers")
               for init in (ROOT / folder).rglob("__init__.py")}
    data_only = {"interview_followup.daemon.files", "interview_followup.daemon.templates"}
    assert listed == on_disk | data_only  # a new backend folder must be added to the list
    assert setup["package-dir"] == {"interview_followup.daemon": "daemon",
                                    "interview_followup.providers": "providers"}
    assert PROJECT["scripts"]["followup"].startswith("interview_followup.daemon.")


def test_no_code_imports_the_bare_source_folder_names() -> None:
    """`daemon` and `providers` are folder names only: a bare import would load a second
    copy of a module (or python-daemon's `daemon`) instead of ours."""
    stray = []
    files = [*_source_modules(),
             *((p, "tests") for p in sorted((ROOT / "tests").rglob("*.py"))),
             *((p, "bench") for p in sorted((ROOT / "bench").glob("*.py")))]
    for path, package in files:
        for name in _imports(path, package):
            if name.split(".")[0] in ("daemon", "providers"):
                stray.append(f"{path.relative_to(ROOT)}: {name}")
    assert stray == []


def test_providers_import_nothing_from_daemon() -> None:
    wrong = [f"{path.relative_to(ROOT)}: {name}"
             for path, package in _source_modules() if package.startswith(
                 "interview_followup.providers")
             for name in _imports(path, package)
             if name.startswith("interview_followup.daemon")]
    assert wrong == []
