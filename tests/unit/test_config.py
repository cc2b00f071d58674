from pathlib import Path

import pytest

from service.config import ConfigError, Mode, StoreKind, load_config


def test_defaults_are_valid() -> None:
    config = load_config()
    assert config.mode is Mode.PAPER and config.instrument_map()["GOOG"].tick_size > 0


def test_yaml_file_and_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) \
        -> None:
    path = tmp_path / "c.yaml"
    path.write_text("fix:\n  port: 9000\n  host: 127.0.0.2\npolicy:\n  name: twap_passive\n")
    monkeypatch.setenv("EXECAGENT_FIX__PORT", "9100")
    config = load_config(path)
    assert config.fix.port == 9100  # environment wins
    assert config.fix.host == "127.0.0.2" and config.policy.name == "twap_passive"


@pytest.mark.parametrize(("yaml_text", "field", "hint"), [
    ("fix:\n  port: 70000\n", "fix.port", "less than or equal to 65535"),
    ("policy:\n  name: magic\n", "policy.name", "pattern"),
    ("instruments:\n  - symbol: GOOG\n    tick_size: -1\n", "instruments.0.tick_size",
     "greater than 0"),
    ("fix:\n  prot: 1\n", "fix.prot", "Extra inputs are not permitted"),
    ("mode: live\n", "mode 'live' needs store.kind 'redis'", ""),
])
def test_invalid_values_name_the_field_and_what_is_allowed(tmp_path: Path, yaml_text: str,
                                                           field: str, hint: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert field in str(error.value) and hint in str(error.value)


def test_live_mode_with_redis_store_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text("mode: live\nstore:\n  kind: redis\n")
    assert load_config(path).store.kind is StoreKind.REDIS


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("fix: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
