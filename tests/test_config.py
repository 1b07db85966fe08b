"""The configuration: file, environment overrides, fail-fast validation."""

import dataclasses
import tomllib
from pathlib import Path

import pytest

from instance.config import SECTIONS, Config, ConfigError, build_config, load_config

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"secret_key": "s" * 40}


def test_example_file_documents_every_setting() -> None:
    example = tomllib.loads((ROOT / "instance.example.toml").read_text())
    top = {f.name for f in dataclasses.fields(Config)} - set(SECTIONS)
    assert top <= set(example), top - set(example)
    for name, cls in SECTIONS.items():
        keys = {f.name for f in dataclasses.fields(cls)}
        assert keys == set(example[name]), (name, keys ^ set(example[name]))
    build_config(example, {})  # the example itself is valid


def test_environment_overrides_file() -> None:
    config = build_config(
        {**GOOD, "base_url": "https://a.example"},
        {
            "BENEFED_BASE_URL": "http://127.0.0.1:8000",
            "BENEFED_DATABASE_URL": "postgresql://u:p@127.0.0.1/db",
            "BENEFED_SECRET_KEY": "e" * 40,
            "BENEFED_FEDERATION_ALLOW_PRIVATE": "true",
            "BENEFED_EMAIL_SMTP_PORT": "2525",
        },
    )
    assert config.base_url == "http://127.0.0.1:8000"
    assert config.domain == "127.0.0.1:8000"
    assert config.database_url.startswith("postgresql://")
    assert config.secret_key == "e" * 40
    assert config.federation.allow_private is True
    assert config.email.smtp_port == 2525
    assert config.secure_cookies is False


def test_defaults_are_safe() -> None:
    config = build_config(GOOD, {})
    assert config.federation.allow_private is False
    assert config.timezone == "Europe/Paris"
    assert config.default_language == "fr"
    assert build_config({**GOOD, "base_url": "https://x.example"}, {}).secure_cookies


@pytest.mark.parametrize(
    ("raw", "env", "named"),
    [
        ({}, {}, "secret_key"),
        ({**GOOD, "base_url": "ftp://x"}, {}, "base_url"),
        ({**GOOD, "base_url": "https://x.example/sub"}, {}, "base_url"),
        ({**GOOD, "database_url": "mysql://x"}, {}, "database_url"),
        ({**GOOD, "registration": "maybe"}, {}, "registration"),
        ({**GOOD, "timezone": "Mars/Olympus"}, {}, "timezone"),
        ({**GOOD, "colour": "blue"}, {}, "colour"),
        ({**GOOD, "email": {"smtp_port": "abc"}}, {}, "email.smtp_port"),
        ({**GOOD, "email": {"nope": 1}}, {}, "email.nope"),
        (GOOD, {"BENEFED_FEDERATION_ALLOW_PRIVATE": "perhaps"}, "BENEFED_FEDERATION_ALLOW_PRIVATE"),
        ({**GOOD, "default_language": "de"}, {}, "default_language"),
        ({**GOOD, "languages": ["fr", "de"]}, {}, "languages"),
    ],
)
def test_bad_setting_names_the_setting(raw: dict, env: dict, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(raw, env)
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("base_url = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})


def test_config_file_chosen_by_environment(tmp_path: Path) -> None:
    path = tmp_path / "chosen.toml"
    path.write_text('secret_key = "' + "k" * 40 + '"\nsite_name = "Chosen"\n')
    assert load_config(environ={"BENEFED_CONFIG": str(path)}).site_name == "Chosen"
