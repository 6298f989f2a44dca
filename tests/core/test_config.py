from pathlib import Path

import pytest

from alpr import config


def test_defaults_are_local_and_embedded(tmp_path):
    cfg = config.load(environ={"ALPR_DATA_DIR": str(tmp_path)})
    assert cfg.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert cfg.redis.url.startswith("redis://127.0.0.1")
    assert cfg.clickhouse_url == f"chdb://{tmp_path / 'clickhouse'}"
    assert cfg.policy.retention_years == 2


def test_toml_then_environment(tmp_path):
    f = tmp_path / "alpr.toml"
    f.write_text('[kafka]\nbootstrap_servers = "kafka1:9092,kafka2:9092"\nframes_partitions = 12\n'
                 '[clickhouse]\nurl = "https://ch.example:8443"\n')
    cfg = config.load(f, environ={"ALPR_KAFKA__FRAMES_PARTITIONS": "24", "ALPR_READER__MIN_CONFIDENCE": "0.8"})
    assert cfg.kafka.bootstrap_servers == "kafka1:9092,kafka2:9092"
    assert cfg.kafka.frames_partitions == 24  # environment wins over the file
    assert cfg.reader.min_confidence == 0.8
    assert cfg.clickhouse_url == "https://ch.example:8443"


@pytest.mark.parametrize(
    "env, key",
    [
        ({"ALPR_KAFKA__FRAMES_PARTITONS": "3"}, "kafka.frames_partitons"),
        ({"ALPR_KAFKA__FRAMES_PARTITIONS": "three"}, "kafka.frames_partitions"),
        ({"ALPR_KAFKA__FRAMES_PARTITIONS": "0"}, "kafka.frames_partitions"),
        ({"ALPR_REDIS__URL": "http://localhost"}, "redis.url"),
        ({"ALPR_CLICKHOUSE__URL": "mysql://x"}, "clickhouse.url"),
        ({"ALPR_KAFKA__BOOTSTRAP_SERVERS": "nohostport"}, "kafka.bootstrap_servers"),
        ({"ALPR_READER__ENGINE": "tesseract"}, "reader.engine"),
        ({"ALPR_READER__RUNTIME": "tensorrt"}, "reader.runtime"),
        ({"ALPR_READER__PLATE_LAYOUTS": "LLL-####"}, "reader.plate_layouts"),
        ({"ALPR_READER__O_IS_ZERO": "maybe"}, "reader.o_is_zero"),
        ({"ALPR_READER__DET_THRESHOLD": "1.5"}, "reader.det_threshold"),
        ({"ALPR_READER__ACCEPT_CONFIDENCE": "-0.1"}, "reader.accept_confidence"),
        ({"ALPR_READER__PLATE_ASPECT": "0.5"}, "reader.plate_aspect"),
        ({"ALPR_POLICY__RETENTION_YEARS": "-1"}, "policy.retention_years"),
    ],
)
def test_invalid_values_name_the_key(env, key):
    with pytest.raises(config.ConfigError) as exc:
        config.load(environ=env)
    assert str(exc.value).startswith(key)


def test_unknown_key_in_file_is_named(tmp_path):
    f = tmp_path / "alpr.toml"
    f.write_text("[redis]\nurll = 'redis://x'\n")
    with pytest.raises(config.ConfigError, match=r"^redis\.urll: unknown key"):
        config.load(f, environ={})


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml", environ={})


def test_show_masks_secrets():
    cfg = config.load(environ={
        "ALPR_REDIS__URL": "redis://:s3cret@redis.internal:6379/0",
        "ALPR_CLICKHOUSE__URL": "https://alpr:hunter2@ch.internal:8443",
        "ALPR_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "ALPR_KAFKA__SASL_PASSWORD": "kafkapw",
    })
    text = config.to_toml(config.as_masked_dict(cfg))
    for secret in ("s3cret", "hunter2", "kafkapw"):
        assert secret not in text
    assert "redis://:****@redis.internal:6379/0" in text
    assert "https://alpr:****@ch.internal:8443" in text
    # and the real values are still there for the program
    assert cfg.kafka.client_config()["sasl.password"] == "kafkapw"


def test_every_reader_engine_is_accepted():
    for engine in config.READER_ENGINES:
        assert config.load(environ={"ALPR_READER__ENGINE": engine}).reader.engine == engine
    for runtime in config.READER_RUNTIMES:
        assert config.load(environ={"ALPR_READER__RUNTIME": runtime}).reader.runtime == runtime


def test_region_presets_load():
    """The regional presets under infra/regions stay valid configuration."""
    presets = sorted((Path(__file__).resolve().parents[2] / "infra" / "regions").glob("*.toml"))
    assert presets
    for preset in presets:
        reader = config.load(preset, environ={}).reader
        assert reader.plate_layouts and not reader.o_is_zero
