"""A YAML file that does not parse is told in one line, wherever the file is read."""

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config_errors import ConfigError, yaml_problem
from gateways.venue.config import load_venue_config
from models.sweep import SweepError, load_sweep
from models.training_config import TrainConfig, TrainConfigError, load_train_config
from risk.limits import RiskConfigError, load_limits
from service.config import load_config

UNCLOSED = "key: [unclosed\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}'\"#&*!|>%@`\t\n ,?")), max_size=40))
def test_any_parse_error_is_one_line_with_where(text: str) -> None:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = yaml_problem(exc)
        assert line and "\n" not in line


def test_the_line_names_the_problem_and_its_place() -> None:
    with pytest.raises(yaml.YAMLError) as error:
        yaml.safe_load(UNCLOSED)
    assert yaml_problem(error.value).endswith("at line 2, column 1")


@pytest.mark.parametrize(("load", "error"), [
    (load_config, ConfigError),
    (load_venue_config, ConfigError),
    (load_limits, RiskConfigError),
    (load_train_config, TrainConfigError),
    (lambda path: load_sweep(path, TrainConfig()), SweepError),
])
def test_every_users_file_tells_a_parse_error_in_one_line(
        tmp_path: Path, load: object, error: type[Exception]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(UNCLOSED)
    with pytest.raises(error) as raised:
        load(path)  # type: ignore[operator]
    assert "not valid YAML" in str(raised.value) and "\n" not in str(raised.value)
