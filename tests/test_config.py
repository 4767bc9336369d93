"""Configs by composition: blocks with dotted keys, presets, round trips through JSON."""

from dataclasses import dataclass

import pytest

from wnbias.config import (
    apply_preset,
    block,
    describe,
    field,
    from_dict,
    keys,
    resolve,
    to_dict,
)
from wnbias.errors import ConfigError


@dataclass(frozen=True)
class Arm:
    lr: float = field(0.01, positive=True, doc="learning rate")
    frac: float = field(10.0, nonnegative=True, doc="frac")


@dataclass(frozen=True)
class Schedule:
    grow: float = field(1.1, positive=True, doc="growth")
    ewn: Arm = block(Arm(frac=5.0), doc="EWN")
    swn: Arm = block(Arm(lr=0.02))

    def check(self):
        if self.grow < 1:
            raise ConfigError(f"gd.grow={self.grow} must be >= 1")


@dataclass(frozen=True)
class Config:
    seed: int = field(3, doc="seed")
    depths: tuple[int, ...] = field((1, 2), positive=True, distinct=True, doc="depths")
    gd: Schedule = block(Schedule(), doc="GD")


def test_dotted_keys_reach_nested_blocks():
    config = resolve(Config, {"gd.ewn.frac": "7", "gd.grow": "1.2", "seed": "4"})
    assert config.gd.ewn.frac == 7.0 and config.gd.ewn.lr == 0.01  # the block's other default
    assert config.gd.swn == Arm(lr=0.02) and config.gd.grow == 1.2 and config.seed == 4
    assert keys(Config) == ["seed", "depths", "gd.grow", "gd.ewn.lr", "gd.ewn.frac",
                            "gd.swn.lr", "gd.swn.frac"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gd.ewn.bogus": "1"},
         "unknown config key 'gd.ewn.bogus'; allowed: seed, depths, gd.grow"),
        ({"gd": "1"}, "unknown config key 'gd'"),
        ({"seed.x": "1"}, "unknown config key 'seed.x'"),
        ({"gd.ewn.lr": "-1"}, "gd.ewn.lr=-1.0 must be positive"),
        ({"gd.ewn.lr": "fast"}, "gd.ewn.lr='fast' is not a valid float"),
        ({"gd.grow": "0.5"}, "gd.grow=0.5 must be >= 1"),
        ({"depths": "1,1"}, "depths=1,1 repeats a value"),
    ],
)
def test_bad_keys_and_values_name_the_dotted_key(overrides, message):
    with pytest.raises(ConfigError) as error:
        resolve(Config, overrides)
    assert message in str(error.value)


def test_describe_lists_dotted_keys_with_the_block_defaults():
    rows = {key: (kind, default, doc) for key, kind, default, doc in describe(Config)}
    assert rows["gd.ewn.frac"] == ("float", 5.0, "frac")
    assert rows["gd.swn.lr"] == ("float", 0.02, "learning rate")
    assert rows["depths"][0] == "comma-separated list of int"


def test_to_dict_and_back():
    config = resolve(Config, {"gd.swn.frac": "2", "depths": "3,4"})
    data = to_dict(config)
    assert data == {"seed": 3, "depths": [3, 4], "gd": {
        "grow": 1.1, "ewn": {"lr": 0.01, "frac": 5.0}, "swn": {"lr": 0.02, "frac": 2.0}}}
    assert from_dict(Config, data) == config
    with pytest.raises(ConfigError, match="does not match"):
        from_dict(Config, {**data, "old_key": 1})


def test_presets_are_overrides_under_the_users():
    presets = {"smoke": {"seed": "1", "gd.grow": "1.5"}}
    assert apply_preset(presets, "smoke", {"seed": "2"}) == {"seed": "2", "gd.grow": "1.5"}
    assert apply_preset(presets, None, {"seed": "2"}) == {"seed": "2"}
    with pytest.raises(ConfigError, match="unknown preset 'fast'; allowed: smoke"):
        apply_preset(presets, "fast", {})
