"""Dependencies: pyproject.toml says what opsdash needs, the lock files pin it (`make lock`),
and production runs without the development tools (pgserver, honcho)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
DEV_LOCK = ROOT / "requirements" / "dev-lock.txt"
DEV_TOOLS = {"pgserver", "honcho"}
STALE = "is out of date with pyproject.toml: run `make lock` and commit requirements/"


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(*extras: str) -> list[Requirement]:
    """[project].dependencies plus the named extras, following opsdash[extra] references."""
    optional = project()["optional-dependencies"]
    found = [Requirement(line) for line in project()["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in optional[extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == "opsdash":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def locked(path: Path) -> dict[str, Requirement]:
    """Each pinned package of a lock file by its normalised name."""
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line[0].isspace() and not line.startswith(("#", "-")):
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = requirement
    return pins


def version(requirement: Requirement) -> str:
    (spec,) = requirement.specifier
    assert spec.operator == "==", f"{requirement} is not pinned to one version"
    return spec.version


def check_pinned(lock: Path, wanted: list[Requirement]) -> None:
    pins = locked(lock)
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in {lock.name}: {lock.name} {STALE}"
        assert requirement.specifier.contains(version(pins[name]), prereleases=True), (
            f"{lock.name} pins {pins[name]}, outside {requirement}: {lock.name} {STALE}"
        )


def test_every_runtime_dependency_is_pinned_in_the_runtime_lock():
    check_pinned(LOCK, requirements())


def test_every_dev_and_demo_dependency_is_pinned_in_the_dev_lock():
    check_pinned(DEV_LOCK, requirements("dev", "demo"))


def test_both_locks_pin_the_same_versions():
    runtime, dev = locked(LOCK), locked(DEV_LOCK)
    assert runtime.keys() <= dev.keys()
    for name, requirement in runtime.items():
        assert version(requirement) == version(dev[name]), f"{name}: {LOCK.name} and {DEV_LOCK.name} disagree"


def test_development_tools_are_not_runtime_dependencies():
    runtime = {canonicalize_name(r.name) for r in requirements()}
    assert not runtime & DEV_TOOLS
    demo = {canonicalize_name(Requirement(line).name) for line in project()["optional-dependencies"]["demo"]}
    assert demo >= DEV_TOOLS
    # make installs the dev extra, which brings the demo one (tests use the embedded Postgres).
    assert {canonicalize_name(r.name) for r in requirements("dev")} >= DEV_TOOLS
    assert "django-auditlog" not in runtime | {canonicalize_name(r.name) for r in requirements("dev", "demo")}


def test_the_makefile_installs_from_the_dev_lock_then_opsdash_without_dependencies():
    makefile = (ROOT / "Makefile").read_text()
    rule = makefile[makefile.index("$(BIN)/.installed:") :].split("\n\n", 1)[0]
    prerequisites = rule.splitlines()[0]
    assert "$(LOCK)" in prerequisites
    assert "$(DEV_LOCK)" in prerequisites
    assert "LOCK := requirements/lock.txt" in makefile
    assert "DEV_LOCK := requirements/dev-lock.txt" in makefile
    assert "pip install --quiet --requirement $(DEV_LOCK)" in rule
    assert "pip install --quiet --no-deps --editable ." in rule
    assert "\nlock:" in makefile


def _python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # pgserver and honcho are made unimportable, as in the image, where they are not installed.
    blocker = "import sys\nsys.modules['pgserver'] = None\nsys.modules['honcho'] = None\n"
    environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "opsdash.settings",
        "OPSDASH_DATA_DIR": str(tmp_path),
        "OPSDASH_DEBUG": "0",
        "OPSDASH_SECRET_KEY": "s" * 50,
        "OPSDASH_AUDIT_KEY": "a" * 50,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", blocker + code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_starts_without_pgserver_or_honcho(tmp_path):
    # Nothing connects to these: settings, every app, the URLs, WSGI and Celery only load.
    code = (
        "import django\n"
        "django.setup()\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "import opsdash.wsgi, opsdash.celery\n"
        "loaded = [name for name, module in sys.modules.items()"
        " if name.split('.')[0] in {'pgserver', 'honcho'} and module is not None]\n"
        "assert not loaded, loaded\n"
        "print('started')\n"
    )
    result = _python(
        code,
        tmp_path,
        DATABASE_URL="postgres://opsdash:pw@127.0.0.1:1/opsdash",
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\n"


def test_without_a_database_url_or_pgserver_manage_py_says_what_to_do(tmp_path):
    code = "import runpy\nsys.argv = ['manage.py', 'check']\nrunpy.run_path('manage.py', run_name='__main__')\n"
    result = _python(code, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL is not set and the embedded Postgres" in result.stderr
    assert "pgserver" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
