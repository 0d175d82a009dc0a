"""Settings from the environment: embedded defaults, PaaS URLs, and the Procfile kept in step."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.channels import ChannelFileError, load_channels
from app.processes import procfile
from config.settings import DEFAULT_CHANNELS_FILE, load_settings, normalise_database_url

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_set_means_the_embedded_default(tmp_path: Path) -> None:
    settings = load_settings({"VIDGATE_DATA_DIR": str(tmp_path)})
    assert settings.is_embedded
    assert settings.database_url == f"sqlite:///{tmp_path}/vidgate.sqlite"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path}/broker.sqlite"
    assert settings.storage_url == (tmp_path / "storage").as_uri()
    assert settings.channels_file == DEFAULT_CHANNELS_FILE


def test_services_come_from_their_urls(tmp_path: Path) -> None:
    settings = load_settings({"VIDGATE_DATA_DIR": str(tmp_path), "DATABASE_URL": "postgres://u:p@db:5432/v",
                              "REDIS_URL": "redis://cache:6379/0", "VIDGATE_RETENTION_HOURS": "2"})
    assert not settings.is_embedded
    assert settings.database_url == "postgresql+psycopg2://u:p@db:5432/v"
    assert settings.broker_url == "redis://cache:6379/0"
    assert settings.retention_hours == 2
    assert "p@db" not in repr(settings)  # the environment copy stays out of logs


@pytest.mark.parametrize(("given", "expected"), [
    ("postgres://a@h/d", "postgresql+psycopg2://a@h/d"),
    ("postgresql://a@h/d", "postgresql+psycopg2://a@h/d"),
    ("postgresql+psycopg2://a@h/d", "postgresql+psycopg2://a@h/d"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_channel_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text('[[channels]]\nname="a"\nvendor="openai"\nbase_url="${BASE:-http://x}/v1"\n'
                    'api_key="${KEY}"\nmodels={"sora-2"="sora-2"}\n')
    [channel] = load_channels(path, {"KEY": "sk-secret"}).channels
    assert (channel.base_url, channel.api_key) == ("http://x/v1", "sk-secret")
    assert "sk-secret" not in repr(channel)
    with pytest.raises(ChannelFileError, match="KEY"):
        load_channels(path, {})


def test_the_committed_procfile_is_the_process_table() -> None:
    assert (ROOT / "Procfile").read_text() == procfile()


def test_the_token_cache_lasts_five_seconds_unless_told(tmp_path: Path) -> None:
    assert load_settings({"VIDGATE_DATA_DIR": str(tmp_path)}).token_cache_seconds == 5
    assert load_settings({"VIDGATE_DATA_DIR": str(tmp_path), "VIDGATE_TOKEN_CACHE_SECONDS": "0"}
                         ).token_cache_seconds == 0
