"""channels.toml validation: every error names the file, the key and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsgw.config import ConfigError, load

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
[routes]
cmcc = ["139"]

[[channel]]
name = "a"
protocol = "cmpp3"
host = "127.0.0.1"
port = 7890
username = "901234"
password = "secret"
routes = ["cmcc"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "channels.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_default_loads() -> None:
    config = load(ROOT / "channels.toml")
    assert {c.protocol for c in config.channels} == {"smpp", "cmpp3", "smgp"}
    assert config.gateway.database.startswith("sqlite:///")
    assert all(c.prefixes for c in config.channels)


def test_minimal_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, MINIMAL))
    (channel,) = config.channels
    assert channel.prefixes == ("139",) and channel.binds == 1 and channel.window == 16
    assert config.gateway.http_port == 8080
    assert config.gateway.database == f"sqlite:///{(tmp_path / 'var/smsgw.db').resolve()}"
    assert config.gateway.store_writer == "process"


@pytest.mark.parametrize(("written", "days"), [(None, 0.0), ("0", 0.0), ("1", 1.0), ("7.5", 7.5), ("90", 90.0)])
def test_retention_days(tmp_path: Path, written: str | None, days: float) -> None:
    text = MINIMAL if written is None else f"[gateway]\nretention_days = {written}\n{MINIMAL}"
    assert load(write(tmp_path, text)).gateway.retention_days == days


@pytest.mark.parametrize(("written", "seconds"), [(None, 900.0), ("60", 60.0), ("1.5", 1.5)])
def test_http_upload_timeout(tmp_path: Path, written: str | None, seconds: float) -> None:
    text = MINIMAL if written is None else f"[http]\nupload_timeout = {written}\n{MINIMAL}"
    assert load(write(tmp_path, text)).http.upload_timeout == seconds


def test_env_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMPP_SECRET", "s3")
    config = load(write(tmp_path, MINIMAL.replace('"secret"', '"env:CMPP_SECRET"')))
    assert config.channels[0].password == "s3"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"secret"', '"env:NOPE_NOT_SET"'), "channel[0] (a).password: environment variable NOPE_NOT_SET is not set"),
        (("port = 7890", "port = 70000"), "channel[0] (a).port: expected a TCP port 1..65535, got 70000"),
        (("port = 7890", 'port = "x"'), "channel[0] (a).port: expected an integer, got 'x'"),
        (('protocol = "cmpp3"', 'protocol = "cmpp4"'), "channel[0] (a).protocol: expected one of smpp, cmpp2"),
        (('routes = ["cmcc"]', 'routes = ["nope"]'), "channel[0] (a).routes: unknown route 'nope'"),
        (('host = "127.0.0.1"', 'host = "127.0.0.1"\nwindow = 0'), "channel[0] (a).window: expected a positive"),
        (('host = "127.0.0.1"', 'host = "127.0.0.1"\nwindwo = 3'), "channel[0].windwo: unknown key"),
        (('host = "127.0.0.1"\n', ""), "channel[0] (a).host: missing; expected a string"),
        (("[routes]", '[gateway]\nhttp = "nohost"\n[routes]'), "gateway.http: expected HOST:PORT"),
        (("[routes]", "[gateway]\nretention_days = 0.5\n[routes]"),
         "gateway.retention_days: expected 0 (keep everything) or at least 1 day, got 0.5"),
        (("[routes]", "[gateway]\nretention_days = -3\n[routes]"), "gateway.retention_days: expected 0 (keep"),
        (("[routes]", "[gateway]\nretention_days = nan\n[routes]"), "gateway.retention_days: expected 0 (keep"),
        (("[routes]", '[gateway]\nretention_days = "30d"\n[routes]'),
         "gateway.retention_days: expected a number of days (0 = keep everything), got '30d'"),
        (("[routes]", "[gateway]\nretention_days = true\n[routes]"), "gateway.retention_days: expected a number"),
        (("[routes]", "[gateway]\nvalidity = nan\n[routes]"), "gateway.validity: expected a positive number, got nan"),
        (("[routes]", "[gateway]\ndrain_timeout = inf\n[routes]"), "gateway.drain_timeout: expected a positive number"),
        (('host = "127.0.0.1"', 'host = "127.0.0.1"\ntps = nan'), "channel[0] (a).tps: expected a positive number"),
        (("[routes]", "[policy]\nkey_tps = nan\n[routes]"), "policy.key_tps: expected 0 (no quota) or a positive"),
        (("[routes]", '[gateway]\nstore_writer = "fork"\n[routes]'),
         "gateway.store_writer: expected one of process, thread"),
        (("[routes]", "[http]\nupload_timeout = 0\n[routes]"), "http.upload_timeout: expected a positive number"),
        (("[routes]", "[http]\nbody_timeout = 9\n[routes]"), "http.body_timeout: unknown key"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = write(tmp_path, MINIMAL.replace(*change))
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_duplicate_names(tmp_path: Path) -> None:
    text = MINIMAL + MINIMAL.split("[routes]\ncmcc = [\"139\"]\n", 1)[1]
    with pytest.raises(ConfigError, match=r"channel\[1\]\.name: duplicate channel name 'a'"):
        load(write(tmp_path, text))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[[channel]\n"))
