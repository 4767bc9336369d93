"""Initial weights: PyTorch's nn.Linear default bit for bit, seeded JAX draws, init_from files."""

import jax.numpy as jnp
import numpy as np
import pytest

from wnbias import get_reparam, mlp
from wnbias.errors import ConfigError
from wnbias.initial import (
    load_initial_parameters,
    save_initial_parameters,
    seeded_weights,
    torch_linear_weights,
)

LIN_SEP = {"layer1": (8, 2), "layer2": (1, 8)}


@pytest.mark.parametrize(
    ("seed", "shapes"),
    [
        (9156, {"layer1": (20, 2)}),  # XOR.py
        (2137, LIN_SEP),  # lin-sep.py: two layers drawn in order
        (6782, {"layer1": (100, 2), "layer2": (100, 100), "layer3": (1, 100)}),
        (2**32 + 5, {"layer1": (3, 7)}),  # torch keeps the low 32 bits of the seed
        (-3, {"layer1": (4, 1)}),
    ],
)
def test_torch_init_is_bit_exact(seed, shapes):
    torch = pytest.importorskip("torch", reason="torch is not installed (the [torch] extra)")
    torch.manual_seed(seed)
    expected = {k: torch.nn.Linear(d, n, bias=False).weight.detach().numpy()
                for k, (n, d) in shapes.items()}
    ours = torch_linear_weights(shapes, seed)
    for k in shapes:
        assert ours[k].dtype == np.float32
        np.testing.assert_array_equal(ours[k], expected[k])


def test_torch_init_statistics_without_torch():
    # independent of torch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), mean 0, variance 1/(3 fan_in)
    w = torch_linear_weights({"layer1": (400, 25)}, 0)["layer1"]
    assert np.abs(w).max() <= 1 / 5 and np.abs(w).max() > 0.199
    assert abs(w.mean()) < 3e-3 and w.var() == pytest.approx(1 / 75, rel=0.03)
    again = torch_linear_weights({"layer1": (400, 25)}, 0)["layer1"]
    np.testing.assert_array_equal(w, again)


def test_seeded_weights_same_start_in_float32_and_float64():
    model = mlp((2, 20, 1), "relu")
    for scheme in ("jax", "torch"):
        w64 = seeded_weights(model, scheme, 9156, 3, "float64")
        w32 = seeded_weights(model, scheme, 9156, 3, "float32")
        assert w64["layer1"].shape == (3, 20, 2) and w32["layer1"].dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(w64["layer1"], np.float32), w32["layer1"])
    torch_seeds = seeded_weights(model, "torch", 9156, 2, "float32")["layer1"]
    np.testing.assert_array_equal(torch_seeds[1],
                                  torch_linear_weights(model.layer_shapes, 9157)["layer1"])


def _arms(*names):
    return {n: get_reparam(n) for n in names}


def test_load_shared_weights_encodes_every_arm(tmp_path):
    w = torch_linear_weights(LIN_SEP, 2137)
    np.savez(tmp_path / "w.npz", **w)
    thetas, n = load_initial_parameters(tmp_path / "w.npz", LIN_SEP, _arms("plain", "ewn"))
    assert n == 1
    np.testing.assert_array_equal(thetas["plain"]["layer1"]["w"][0], w["layer1"])
    v, a = thetas["ewn"]["layer2"]["v"][0], thetas["ewn"]["layer2"]["a"][0]
    np.testing.assert_allclose(np.exp(a)[:, None] * v, w["layer2"], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-12)


def test_load_most_specific_key_wins_and_non_unit_directions_survive(tmp_path):
    w = torch_linear_weights(LIN_SEP, 1)
    v = np.stack([np.full((1, 8), 0.5)] * 2)  # ||v|| = sqrt(2), two seeds
    np.savez(tmp_path / "w.npz", layer1=np.stack([w["layer1"]] * 2),
             layer2=np.stack([w["layer2"]] * 2), **{"swn/layer1": np.zeros((2, 8, 2)) + 1.0,
                                                    "ewn/layer2/a": np.zeros((2, 1)),
                                                    "ewn/layer2/v": v})
    thetas, n = load_initial_parameters(tmp_path / "w.npz", LIN_SEP, _arms("swn", "ewn"))
    assert n == 2
    np.testing.assert_allclose(thetas["swn"]["layer1"]["g"], np.sqrt(2.0))
    np.testing.assert_array_equal(thetas["ewn"]["layer2"]["v"], v)
    np.testing.assert_allclose(thetas["ewn"]["layer1"]["v"][0] * np.exp(
        thetas["ewn"]["layer1"]["a"][0])[:, None], w["layer1"], rtol=1e-6)


def test_save_then_load_round_trip(tmp_path):
    model = mlp((2, 8, 1), "relu2")
    weights = seeded_weights(model, "torch", 2137, 2, "float64")
    arms = _arms("swn", "ewn")
    import jax

    thetas = {a: jax.vmap(r.encode)(weights["layer1"]) for a, r in arms.items()}
    thetas = {a: {"layer1": t, "layer2": jax.vmap(arms[a].encode)(weights["layer2"])}
              for a, t in thetas.items()}
    save_initial_parameters(tmp_path / "init.npz", thetas)
    loaded, n = load_initial_parameters(tmp_path / "init.npz", LIN_SEP, arms)
    assert n == 2
    for arm in arms:
        for layer in LIN_SEP:
            for p, value in thetas[arm][layer].items():
                np.testing.assert_array_equal(loaded[arm][layer][p], value)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"layer1": np.zeros((8, 3)), "layer2": np.ones((1, 8))},
         "'layer1' has shape (8, 3); expected (8, 2) or (seeds, 8, 2)"),
        ({"layer1": np.ones((8, 2))}, "no initial weights for ewn/layer2; give 'layer2'"),
        ({"layer1": np.ones((8, 2)), "layer2": np.ones((1, 8)), "layer3": np.ones(2)},
         "unknown key 'layer3'; allowed: layer1, layer2, ewn/layer1"),
        ({"layer1": np.ones((2, 8, 2)), "layer2": np.ones((3, 1, 8))}, "same leading seed axis"),
        ({"layer1": np.ones((8, 2)), "layer2": np.ones((1, 8)), "ewn/layer1/a": np.ones(8)},
         "ewn/layer1/a needs ewn/layer1/v too"),
        ({"layer1": np.full((8, 2), np.nan), "layer2": np.ones((1, 8))}, "finite"),
    ],
)
def test_load_errors_name_the_key(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ConfigError, match="init_from=") as error:
        load_initial_parameters(tmp_path / "bad.npz", LIN_SEP, _arms("ewn"))
    assert message in str(error.value)


def test_load_missing_or_corrupt_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_initial_parameters(tmp_path / "none.npz", LIN_SEP, _arms("ewn"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load_initial_parameters(tmp_path / "junk.npz", LIN_SEP, _arms("ewn"))
