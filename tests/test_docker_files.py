"""The production packaging in docker/: what compose starts, how the image runs, and that
the deployment refuses to come up with a guessable secret."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

from tests.test_dependencies import LOCK, locked, requirements

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yml"
APP_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$", re.IGNORECASE)
REQUIRED_VARIABLE = re.compile(r"\$\{(\w+):\?[^}]+\}")
COMPOSE_ENV = {
    "OPSDASH_SECRET_KEY": "x" * 50,
    "OPSDASH_AUDIT_KEY": "a" * 50,
    "POSTGRES_PASSWORD": "compose-check-password",
    "POSTGRES_APP_PASSWORD": "compose-check-app-password",
}
DATABASE_USER = re.compile(r"\w+://([^:/@]+)[:@]")


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction of the final stage, continuations joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            instructions = []
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def settings_variables() -> set[str]:
    source = (ROOT / "opsdash" / "settings.py").read_text()
    # Every call whose first argument names a variable: env_str("X"), _key("X", ...), ...
    return set(re.findall(r"\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", source))


def test_it_runs_postgres_redis_web_worker_and_beat_with_healthchecks():
    services = compose()["services"]
    for name in LONG_RUNNING:
        assert name in services, f"compose.yml has no {name} service"
        check = services[name].get("healthcheck", {})
        assert not check.get("disable"), f"{name} has its healthcheck disabled"
        assert check.get("test"), f"{name} has no healthcheck"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])


def test_it_builds_every_opsdash_service_from_one_image():
    services = compose()["services"]
    web = services["web"]
    assert web["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert (COMPOSE_FILE.parent / web["build"]["context"] / web["build"]["dockerfile"]).resolve().is_file()
    for name in APP_SERVICES:
        assert services[name]["build"] == web["build"], name
        assert services[name]["image"] == web["image"], name


def test_it_gives_no_secret_a_default_value():
    for name, service in compose()["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VARIABLE.fullmatch(value), f"{name}: {key} must come from a required variable"
            password = re.match(r"\w+://[^:/@]+:([^@]+)@", value)
            if password:
                assert REQUIRED_VARIABLE.fullmatch(password.group(1)), f"{name}: {key} embeds a literal password"
    # No ${SECRET:-fallback} anywhere, including places the loop above does not look.
    for variable in re.findall(r"\$\{(\w+)(?::?-)", COMPOSE_FILE.read_text()):
        assert not SECRET_NAME.search(variable), f"{variable} has a default in compose.yml"


def test_it_starts_the_app_after_healthy_stores_and_a_finished_migration():
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    steps = migrate_steps(services["migrate"])
    assert steps[0][:3] == ["python", "manage.py", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name


def migrate_steps(service: dict) -> list[list[str]]:
    """The commands the migrate service runs, in order (a list, or `sh -c "a && b"`)."""
    command = service["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        return [shlex.split(step.strip().removeprefix("exec ")) for step in command[2].split("&&")]
    return [command]


def database_user(service: dict) -> str:
    match = DATABASE_USER.match(environment(service)["DATABASE_URL"])
    assert match, f"DATABASE_URL names no user: {environment(service)['DATABASE_URL']}"
    return match.group(1)


def test_it_migrates_as_the_owner_and_runs_the_app_as_a_role_that_owns_nothing():
    services = compose()["services"]
    owner = environment(services["postgres"])["POSTGRES_USER"]
    steps = migrate_steps(services["migrate"])
    assert [step[:3] for step in steps] == [
        ["python", "manage.py", "migrate"],
        ["python", "manage.py", "grant_app_role"],
    ]
    grant = steps[1]
    app_role = grant[3]
    assert app_role != owner
    # The role is made by the migrate service, so an existing data volume gets it too.
    assert "--create" in grant
    password_variable = grant[grant.index("--password-env") + 1]
    assert database_user(services["migrate"]) == owner
    for name, service in services.items():
        if name in {"postgres", "redis", "migrate"}:
            continue
        assert database_user(service) == app_role, f"{name} must connect as {app_role}, not {database_user(service)}"
        # The owner's password is given to no long-running service, under any name.
        assert not re.search(r"\$\{POSTGRES_PASSWORD\W", " ".join(environment(service).values())), name
    app_password = environment(services["migrate"])[password_variable]
    web_url = environment(services["web"])["DATABASE_URL"]
    assert re.match(r"\w+://[^:/@]+:([^@]+)@", web_url).group(1) == app_password
    assert app_password != environment(services["postgres"])["POSTGRES_PASSWORD"]


def test_it_keeps_postgres_data_and_the_beat_schedule_in_named_volumes():
    config = compose()
    services = config["services"]
    mounts = {
        name: {entry.split(":")[1]: entry.split(":")[0] for entry in services[name].get("volumes", [])}
        for name in ("postgres", "beat")
    }
    assert mounts["postgres"]["/var/lib/postgresql/data"] in config["volumes"]
    assert mounts["beat"]["/data"] in config["volumes"]
    assert "/data/celerybeat-schedule" in services["beat"]["command"]


def test_it_configures_the_app_only_with_variables_settings_reads():
    env = environment(compose()["services"]["web"])
    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    known = settings_variables()
    for key in env:
        if key.startswith("OPSDASH_"):
            assert key in known, f"{key} is set in compose.yml but opsdash/settings.py never reads it"


def test_it_runs_the_image_as_a_non_root_user_serving_with_gunicorn():
    instructions = dockerfile_instructions()
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "the final stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    cmd = [args for keyword, args in instructions if keyword == "CMD"][-1]
    assert '"gunicorn", "opsdash.wsgi:application"' in cmd
    assert "0.0.0.0:8000" in cmd
    assert any(keyword == "HEALTHCHECK" and "web" in args for keyword, args in instructions)
    assert any(keyword == "RUN" and "collectstatic" in args for keyword, args in instructions)


def test_it_copies_only_files_that_exist_and_are_not_dockerignored():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert source.split("/")[0] not in ignored, f"COPY {source} is excluded by .dockerignore"


def every_dockerfile_instruction() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every stage, continuations joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    parts = [line.partition(" ") for line in lines if line and not line.startswith("#")]
    return [(keyword.upper(), rest.strip()) for keyword, _, rest in parts]


def test_the_image_installs_the_runtime_lock_and_nothing_else():
    instructions = every_dockerfile_instruction()
    lock = str(LOCK.relative_to(ROOT))
    copied = [args.split() for keyword, args in instructions if keyword == "COPY" and lock in args.split()[:-1]]
    assert copied, f"the Dockerfile never copies {lock}"
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert lock.split("/")[0] not in ignored, f"{lock} is excluded by .dockerignore"
    installs = [args for keyword, args in instructions if keyword == "RUN" and "pip install" in args]
    assert installs, "the Dockerfile installs no dependencies"
    for args in installs:
        words = args.split()
        assert words[words.index("--requirement") + 1] == lock, args
        # Only what the lock pins: no resolution of pyproject.toml, its extras or the dev lock.
        assert "--no-deps" in words, args
        assert "pip check" in args, args
        for banned in ("pyproject", "dev-lock", "[dev", "[demo", "--editable", " -e "):
            assert banned not in args, f"{banned!r} in: RUN {args}"


def test_the_runtime_lock_holds_no_dev_or_demo_package():
    pinned = set(locked(LOCK))
    assert not pinned & {"pgserver", "honcho"}
    runtime = {canonicalize_name(r.name) for r in requirements()}
    development = {canonicalize_name(r.name) for r in requirements("dev", "demo")} - runtime
    assert development, "no dev or demo packages found in pyproject.toml"
    assert not pinned & development, f"dev/demo packages in {LOCK.name}: {sorted(pinned & development)}"


@pytest.mark.parametrize("missing", ["DATABASE_URL", "CELERY_BROKER_URL"])
def test_it_refuses_to_start_without_an_external_database_or_broker(missing):
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": "postgres://opsdash:pw@postgres:5432/opsdash",
        "CELERY_BROKER_URL": "redis://redis:6379/0",
    }
    del env[missing]
    result = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "echo", "started"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "started" not in result.stdout
    assert f"{missing} is not set" in result.stderr


def test_it_hands_over_to_the_command_when_configured():
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": "postgres://opsdash:pw@postgres:5432/opsdash",
        "CELERY_BROKER_URL": "redis://redis:6379/0",
    }
    result = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "echo", "started"], env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (0, "started\n")


def compose_commands() -> list[list[str]]:
    commands = []
    if shutil.which("docker-compose"):
        commands.append(["docker-compose"])
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        commands.append([docker, "compose"])
    return commands


@pytest.mark.skipif(not compose_commands(), reason="neither docker-compose nor the docker compose plugin is installed")
def test_it_passes_docker_compose_config(tmp_path):
    # An empty env file, so a local docker/.env cannot supply what the test leaves out.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")

    def config(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    for command in compose_commands():
        env = {**os.environ, **COMPOSE_ENV}
        result = config(command, env)
        assert result.returncode == 0, f"{' '.join(command)} config: {result.stderr}"

        for required in ("OPSDASH_SECRET_KEY", "OPSDASH_AUDIT_KEY", "POSTGRES_APP_PASSWORD"):
            result = config(command, {key: value for key, value in env.items() if key != required})
            assert result.returncode != 0
            assert f"set {required}" in result.stderr
