"""Settings files: JSON or YAML mappings, comments dropped, bad files named in the error."""

from __future__ import annotations

import dataclasses

import pytest

import l2t
from l2t.settings import check_fields, read_settings


def test_json_and_yaml_settings_read_alike(tmp_path):
    (tmp_path / "a.json").write_text('{"_comment": "why", "lr": 0.001, "seeds": [0, 1]}')
    assert read_settings(tmp_path / "a.json") == {"lr": 0.001, "seeds": [0, 1]}
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"_comment": "why", "lr": 0.001}))
    assert read_settings(tmp_path / "a.yaml") == {"lr": 0.001}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("broken.json", '{"lr": 0.001,', "cannot read settings"),
        ("list.json", "[1, 2]", "must be a mapping, not list"),
        ("missing.json", None, "cannot read settings"),
    ],
)
def test_bad_settings_files_are_named(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(l2t.ConfigError, match=message) as caught:
        read_settings(path)
    assert name in str(caught.value)


def test_unknown_fields_are_listed():
    @dataclasses.dataclass
    class Options:
        lr: float = 0.1

    check_fields(Options, {"lr": 1.0}, "options")
    with pytest.raises(l2t.ConfigError, match=r"unknown options \['lr_max'\]; known: \['lr'\]"):
        check_fields(Options, {"lr_max": 1.0}, "options")


def test_missing_required_fields_are_named_with_the_file(tmp_path):
    from l2t.train.trainer import TrainConfig

    path = tmp_path / "run.json"
    path.write_text('{"run_dir": "runs/x"}')
    with pytest.raises(l2t.ConfigError) as caught:
        TrainConfig.from_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: missing training options [")
    assert "'data'" in message and "'run_dir'" not in message
