"""Settings dataclasses: dict/YAML round trips, validation, flattening into ROS parameter specs."""

from dataclasses import dataclass

import pytest

from hand_pose_25d import settings as C
from hand_pose_25d.model.model_config import ModelConfig


@dataclass
class Inner:
    threshold: float = C.setting(0.5, description="A threshold.", min=0.0, max=1.0, dynamic=True)
    names: tuple = C.setting(("a", "b"), description="Names.")


@dataclass
class Outer:
    mode: str = C.setting("x", description="Mode.", choices=("x", "y"))
    count: int = C.setting(3, description="Count.", min=1)
    inner: Inner = C.setting(default_factory=Inner, description="Nested.")


def test_round_trip_and_validation(tmp_path):
    o = C.from_dict(Outer, {"mode": "y", "inner": {"threshold": 0.25}})
    assert o.mode == "y" and o.inner.threshold == 0.25 and o.count == 3
    assert C.from_dict(Outer, C.to_dict(o)) == o
    path = tmp_path / "o.yaml"
    C.dump_yaml(o, path)
    assert "# A threshold." in path.read_text()
    assert C.load_yaml(Outer, path) == o
    for bad, word in (
        ({"mode": "z"}, "mode"),
        ({"count": 0}, "count"),
        ({"inner": {"threshold": 2.0}}, "inner.threshold"),
        ({"nope": 1}, "nope"),
        ({"count": "3"}, "count"),
        ({"inner": {"threshold": float("nan")}}, "threshold"),
    ):
        with pytest.raises(ValueError, match=word.replace(".", r"\.")):
            C.from_dict(Outer, bad)


def test_parameter_specs_flatten():
    specs = {s.name: s for s in C.parameter_specs(Outer)}
    assert set(specs) == {"mode", "count", "inner.threshold", "inner.names"}
    t = specs["inner.threshold"]
    assert (t.type, t.min, t.max, t.dynamic, t.default) == ("float", 0.0, 1.0, True, 0.5)
    assert specs["inner.names"].type == "str_array"
    assert specs["mode"].choices == ("x", "y")
    o2 = C.replace_flat(Outer(), {"inner.threshold": 0.9, "mode": "y"})
    assert o2.inner.threshold == 0.9 and o2.mode == "y"
    with pytest.raises(ValueError):
        C.replace_flat(Outer(), {"inner.missing": 1})


def test_model_config_json_round_trip_and_checks():
    m = ModelConfig()
    assert ModelConfig.from_json(m.to_json()) == m
    assert m.bone_prior()[(0, 9)] == pytest.approx(0.09)
    with pytest.raises(ValueError):
        ModelConfig.from_json("{not json")
    with pytest.raises(ValueError):
        C.from_dict(ModelConfig, {"ref_bone": [3, 3]})
    with pytest.raises(ValueError):
        C.from_dict(ModelConfig, {"head": "magic"})
