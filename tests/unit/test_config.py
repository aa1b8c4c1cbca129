import re
from pathlib import Path

import pytest

from xal import __version__
from xal.config import load_settings
from xal.errors import UsageError


def test_defaults_without_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({}, environ={})
    assert (s.region, s.asset_id, s.log_level, s.aws_endpoint_url) == ("eu-central-1", __version__, "normal", None)


def test_precedence_cli_over_env_over_file(tmp_path: Path) -> None:
    cfg = tmp_path / "xal.toml"
    cfg.write_text('[xal]\nregion = "us-west-1"\nasset_id = "from-file"\nlog_level = "debug"\nmax_attempts = 3\n')
    env = {"XAL_REGION": "us-east-2", "XAL_ASSET_ID": "from-env"}
    s = load_settings({"asset_id": "from-cli", "region": None}, config_file=cfg, environ=env)
    assert s.asset_id == "from-cli"  # CLI wins
    assert s.region == "us-east-2"  # env beats file; a None CLI value means "not given"
    assert s.log_level == "debug"  # file beats default
    assert s.max_attempts == 3


def test_config_path_from_environment_and_cwd_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.toml"
    other.write_text('region = "ap-south-1"\n')
    assert load_settings({}, environ={"XAL_CONFIG": str(other)}).region == "ap-south-1"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "xal.toml").write_text('[xal]\nregion = "sa-east-1"\n')
    assert load_settings({}, environ={}).region == "sa-east-1"


def test_env_bool_and_int_coercion() -> None:
    s = load_settings({}, environ={"XAL_JSON": "yes", "XAL_MAX_ATTEMPTS": "4", "XAL_EXTRA_CA_CERTS": "/a:/b"})
    assert s.json is True
    assert s.max_attempts == 4
    assert s.extra_ca_certs == (Path("/a"), Path("/b"))


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"XAL_MAX_ATTEMPTS": "many"}, "XAL_MAX_ATTEMPTS: invalid value 'many'"),
        ({"XAL_JSON": "maybe"}, "XAL_JSON: invalid value 'maybe'"),
        ({"XAL_LOG_LEVEL": "loud"}, "invalid log level 'loud'"),
        ({"XAL_ASSET_ID": "a/b"}, "invalid asset-id 'a/b'"),
        ({"XAL_MAX_ATTEMPTS": "0"}, "at least 1"),
    ],
)
def test_bad_environment_values_are_usage_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(UsageError, match=re.escape(fragment)):
        load_settings({}, environ=env)


def test_bad_config_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("region = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_settings({}, config_file=bad, environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[xal]\nregoin = "x"\n')
    with pytest.raises(UsageError, match=r"unknown setting.*regoin"):
        load_settings({}, config_file=unknown, environ={})
    with pytest.raises(UsageError, match="not found"):
        load_settings({}, config_file=tmp_path / "missing.toml", environ={})


def test_local_endpoint_detection() -> None:
    assert load_settings({"aws_endpoint_url": "http://127.0.0.1:5000"}, environ={}).endpoint_is_local
    assert load_settings({"aws_endpoint_url": "http://localhost:1"}, environ={}).endpoint_is_local
    assert not load_settings(
        {"aws_endpoint_url": "https://ec2.eu-central-1.amazonaws.com"}, environ={}
    ).endpoint_is_local
    assert not load_settings({}, environ={}).endpoint_is_local


def test_extra_pip_index_setting(tmp_path: Path) -> None:
    assert load_settings({}, environ={}).extra_index == "https://download.pytorch.org/whl/cpu"
    mirror = load_settings({}, environ={"XAL_PIP_EXTRA_INDEX_URL": "http://172.17.0.1:8080/simple"})
    assert mirror.extra_index == "http://172.17.0.1:8080/simple"
    assert load_settings({}, environ={"XAL_PIP_EXTRA_INDEX_URL": "none"}).extra_index == ""
    cfg = tmp_path / "xal.toml"
    cfg.write_text('[xal]\npip_extra_index_url = ""\n')
    assert load_settings({}, config_file=cfg, environ={}).extra_index == ""
    with pytest.raises(UsageError, match="pip_extra_index_url must be an http"):
        load_settings({}, environ={"XAL_PIP_EXTRA_INDEX_URL": "download.pytorch.org/whl/cpu"})
