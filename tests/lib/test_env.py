from __future__ import annotations

import pytest

from opsdash.lib.env import ConfigError, env_bool, env_int, env_list, parse_database_url


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), ("ON", True), ("0", False), ("no", False)])
def test_it_reads_booleans(raw, expected):
    assert env_bool("X", default=not expected, environ={"X": raw}) is expected


def test_it_uses_the_default_when_unset():
    assert env_bool("X", default=True, environ={}) is True
    assert env_int("X", 7, environ={}) == 7


def test_it_refuses_a_boolean_it_cannot_read():
    with pytest.raises(ConfigError, match=r"X='maybe' is not a boolean"):
        env_bool("X", environ={"X": "maybe"})


def test_it_refuses_a_non_number():
    with pytest.raises(ConfigError, match="is not a whole number"):
        env_int("PORT", 1, environ={"PORT": "eighty"})


def test_it_enforces_bounds():
    with pytest.raises(ConfigError, match="below the minimum of 60"):
        env_int("IDLE", 100, minimum=60, environ={"IDLE": "5"})
    with pytest.raises(ConfigError, match="above the maximum of 10"):
        env_int("N", 1, maximum=10, environ={"N": "11"})


def test_it_splits_lists_and_refuses_empty_entries():
    assert env_list("H", "a,b", environ={"H": "x.example, y.example"}) == ["x.example", "y.example"]
    assert env_list("H", "a,b", environ={}) == ["a", "b"]
    with pytest.raises(ConfigError, match="empty entry"):
        env_list("H", "", environ={"H": "a,,b"})


def test_it_parses_a_database_url():
    db = parse_database_url("postgres://ops:s%40cret@db.internal:6543/opsdash?sslmode=require")
    assert (db.user, db.password, db.host, db.port, db.name) == ("ops", "s@cret", "db.internal", "6543", "opsdash")
    assert db.options == {"sslmode": "require"}
    assert "s@cret" not in db.describe()


def test_it_parses_a_socket_database_url():
    db = parse_database_url("postgresql://postgres@/opsdash?host=/tmp/sock")
    assert db.host == "/tmp/sock"
    assert db.options == {}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///db.sqlite3", "Postgres only"),
        ("mysql://u@h/db", "must be a Postgres URL"),
        ("postgres://u@h:5432", "no database name"),
        ("postgres://u@h:notaport/db", "invalid port"),
    ],
)
def test_it_refuses_bad_database_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        parse_database_url(url)


def test_it_hides_credentials_in_urls():
    from opsdash.lib.env import redact_url

    assert redact_url("redis://:pw@cache:6379/0") == "redis://cache:6379/0"
    assert redact_url("amqp://guest:guest@mq//") == "amqp://mq//"
