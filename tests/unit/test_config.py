from decimal import Decimal
from pathlib import Path

import pytest

from gateways.venue.config import load_venue_config
from models.training_config import TrainConfigError, load_train_config
from risk.limits import RiskConfigError, load_limits
from service.config import ConfigError, Mode, StoreKind, load_config

ROOT = Path(__file__).resolve().parents[2]


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
    ("policy:\n  model_path: book.yaml\n  shadow: candidate.onnx\n",
     "policy.model_path book.yaml is a policy book", "unset policy.shadow"),
    ("policy:\n  shadow: candidates.yml\n", "policy.shadow candidates.yml is a policy book",
     "a shadow is one ONNX file"),
])
def test_invalid_values_name_the_field_and_what_is_allowed(tmp_path: Path, yaml_text: str,
                                                           field: str, hint: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert field in str(error.value) and hint in str(error.value)


def test_a_policy_book_is_a_model_path(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("policy:\n  name: onnx\n  model_path: desk/book.yaml\n")
    assert load_config(path).policy.model_path == Path("desk/book.yaml")


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


@pytest.mark.parametrize(("yaml_text", "field", "hint"), [
    ("fix:\n  port: yes\n", "fix.port", "valid integer"),
    ("fix:\n  port: \"9878\"\n", "fix.port", "valid integer"),
    ("fix:\n  port: 9878.0\n", "fix.port", "valid integer"),
    ("fix:\n  market_data: \"no\"\n", "fix.market_data", "valid boolean"),
    ("market_data:\n  stale_seconds: \"2\"\n", "market_data.stale_seconds", "valid number"),
    ("instruments:\n  - symbol: GOOG\n    tick_size: true\n", "instruments.0.tick_size",
     "Decimal input"),
])
def test_numbers_in_the_yaml_must_be_numbers(tmp_path: Path, yaml_text: str, field: str,
                                             hint: str) -> None:
    path = tmp_path / "strict.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert field in str(error.value) and hint in str(error.value)


def test_text_types_stay_text_and_decimals_take_either(tmp_path: Path) -> None:
    path = tmp_path / "text.yaml"
    path.write_text("mode: paper\ninstruments:\n  - {symbol: GOOG, tick_size: \"0.01\"}\n"
                    "  - {symbol: AAPL, tick_size: 0.01}\nfix:\n  state_dir: var/x\n"
                    "store:\n  kind: memory\n")
    config = load_config(path)
    assert [i.tick_size for i in config.instruments] == [Decimal("0.01"), Decimal("0.01")]
    assert config.fix.state_dir == Path("var/x") and config.store.kind is StoreKind.MEMORY


def test_environment_variables_are_read_as_their_fields_types(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"FIX__PORT": "9878", "FIX__MARKET_DATA": "false",
                        "STORE__KIND": "redis", "MODE": "live",
                        "MARKET_DATA__STALE_SECONDS": "1.5", "FIX__STATE_DIR": "var/env",
                        "INSTRUMENTS": '[{"symbol": "GOOG", "tick_size": "0.05"}]'}.items():
        monkeypatch.setenv(f"EXECAGENT_{name}", value)
    config = load_config()
    assert (config.fix.port, config.fix.market_data, config.store.kind, config.mode) == \
        (9878, False, StoreKind.REDIS, Mode.LIVE)
    assert config.market_data.stale_seconds == 1.5 and config.fix.state_dir == Path("var/env")
    assert config.instruments[0].tick_size == Decimal("0.05")


def test_a_limits_file_takes_no_flag_for_a_number(tmp_path: Path) -> None:
    text = (ROOT / "deploy" / "risk" / "limits.demo.yaml").read_text()
    path = tmp_path / "limits.yaml"
    path.write_text(text.replace("max_order_qty: 5000", "max_order_qty: yes"))
    with pytest.raises(RiskConfigError, match=r"symbols\.GOOG\.max_order_qty: Input should be a "
                                              "valid integer"):
        load_limits(path)
    path.write_text(text.replace("max_daily_loss: 250000", 'max_daily_loss: "250000.50"'))
    assert load_limits(path).global_.max_daily_loss == Decimal("250000.50")


def test_the_venue_and_training_files_are_as_strict(tmp_path: Path) -> None:
    venue = tmp_path / "venue.yaml"
    venue.write_text("port: \"9878\"\nsymbols:\n  - {symbol: GOOG, tick_size: \"0.01\", "
                     "start_price: 580}\n")
    with pytest.raises(ConfigError, match="port: Input should be a valid integer"):
        load_venue_config(venue)
    venue.write_text("port: 9878\nsymbols:\n  - {symbol: GOOG, tick_size: \"0.01\", "
                     "start_price: 580}\n")
    assert load_venue_config(venue).symbols[0].start_price == Decimal(580)
    train = tmp_path / "train.yaml"
    train.write_text("n_envs: yes\n")
    with pytest.raises(TrainConfigError, match="n_envs: Input should be a valid integer"):
        load_train_config(train)


@pytest.mark.parametrize(("yaml_text", "field"), [
    ("posture:\n  enabled: \"yes\"\n", "posture.enabled"),
    ("oversight:\n  drift_window: 2000.0\n", "oversight.drift_window"),
])
def test_the_posture_and_oversight_sections_are_as_strict(tmp_path: Path, yaml_text: str,
                                                          field: str) -> None:
    path = tmp_path / "sections.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=field):
        load_config(path)
