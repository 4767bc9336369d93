import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wnbias import coordinate_linear, mlp

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize(
    ("sizes", "activation", "frozen", "degree"),
    [
        ((2, 8, 1), "relu2", None, 3),
        ((3, 5, 4, 1), "relu2", None, 7),
        ((2, 6, 6, 1), "relu", None, 3),
        ((2, 4, 4, 4, 1), "linear", None, 4),
        ((2, 20, 1), "relu", {2: jnp.ones((1, 20))}, 1),
        ((2, 5, 1), "relu2", {2: jnp.ones((1, 5))}, 2),
    ],
)
def test_homogeneity_degree_is_numerically_right(sizes, activation, frozen, degree):
    model = mlp(sizes, activation, frozen=frozen)
    assert model.degree == degree
    weights = model.init(KEY)
    x = jax.random.normal(jax.random.PRNGKey(1), (7, sizes[0]))
    scaled = jax.tree.map(lambda w: 1.7 * w, weights)
    np.testing.assert_allclose(model.apply(scaled, x), 1.7**degree * model.apply(weights, x),
                               rtol=1e-12)


def test_mlp_matches_hand_computation():
    model = mlp((2, 2, 1), "relu2")
    w1 = jnp.array([[1.0, -1.0], [0.5, 2.0]])  # neuron-major: rows are incoming vectors
    w2 = jnp.array([[3.0, -1.0]])
    x = jnp.array([[1.0, 2.0], [2.0, 0.0]])
    h = np.maximum(np.asarray(x) @ np.asarray(w1).T, 0) ** 2
    np.testing.assert_allclose(model.apply({"layer1": w1, "layer2": w2}, x), h @ [3.0, -1.0])


def test_frozen_layer_is_not_a_parameter():
    model = mlp((2, 4, 1), "relu", frozen={2: jnp.array([[1.0, 1.0, -1.0, -1.0]])})
    assert list(model.layer_shapes) == ["layer1"]
    assert set(model.init(KEY)) == {"layer1"}


def test_torch_default_init_bounds():
    model = mlp((16, 50, 1), "relu")
    w = model.init(KEY)["layer1"]
    assert w.shape == (50, 16) and float(jnp.max(jnp.abs(w))) <= 0.25
    assert float(jnp.max(jnp.abs(w))) > 0.2


def test_coordinate_linear():
    model = coordinate_linear(2)
    np.testing.assert_allclose(model.apply({"w": jnp.array([[3.0], [5.0]])},
                                           jnp.array([[2.0, 1.0]])), [11.0])
    assert model.layer_shapes == {"w": (2, 1)} and model.degree == 1


def test_bad_activation_and_sizes():
    with pytest.raises(ValueError, match="allowed: relu, relu2, linear"):
        mlp((2, 3, 1), "tanh")
    with pytest.raises(ValueError, match="sizes"):
        mlp((2, 0, 1))
