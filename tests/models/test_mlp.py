import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wnbias import coordinate_linear, deep_linear, get_loss, matrix_factorization, mlp
from wnbias.measure.margin import normalized_margin
from wnbias.models import ACTIVATION_DEGREE, ACTIVATIONS

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
    with pytest.raises(ValueError, match="allowed: relu, relu2, linear, tanh, softplus"):
        mlp((2, 3, 1), "sigmoid")
    with pytest.raises(ValueError, match="sizes"):
        mlp((2, 0, 1))


def test_deep_linear_is_the_linear_mlp():
    model = deep_linear((2, 3, 3, 1))
    assert model.degree == 3 and model.layer_shapes == mlp((2, 3, 3, 1), "linear").layer_shapes
    weights = model.init(KEY)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 2))
    product = weights["layer3"] @ weights["layer2"] @ weights["layer1"]
    np.testing.assert_allclose(model.apply(weights, x), x @ product[0], rtol=1e-13)
    layered = mlp((2, 3, 3, 1), "linear").apply(weights, x)  # the layer-by-layer order
    np.testing.assert_allclose(model.apply(weights, x), layered, rtol=1e-13)


def test_matrix_factorization_is_u_v_transpose_over_sqrt_mh():
    n, h, m = 4, 6, 3
    model = matrix_factorization(n, h, m)
    assert model.layer_shapes == {"layer1": (h, n), "layer2": (m, h)} and model.degree == 2
    u, v = np.random.RandomState(0).randn(n, h), np.random.RandomState(1).randn(m, h)
    out = model.apply({"layer1": jnp.asarray(u.T), "layer2": jnp.asarray(v)}, jnp.eye(n))
    np.testing.assert_allclose(out, u @ v.T / np.sqrt(m * h), rtol=1e-13)


@pytest.mark.parametrize(("activation", "sigma"), [
    ("tanh", np.tanh), ("softplus", lambda z: np.log1p(np.exp(z)))])
def test_activations_without_a_degree(activation, sigma):
    assert set(ACTIVATION_DEGREE) == set(ACTIVATIONS) and ACTIVATION_DEGREE[activation] is None
    model = mlp((2, 3, 1), activation)
    assert model.degree is None
    w1, w2 = jnp.array([[1.0, -1.0], [0.5, 2.0], [0.0, 3.0]]), jnp.array([[3.0, -1.0, 0.5]])
    x = jnp.array([[1.0, 2.0], [2.0, 0.0]])
    h = sigma(np.asarray(x) @ np.asarray(w1).T)
    np.testing.assert_allclose(model.apply({"layer1": w1, "layer2": w2}, x), h @ np.asarray(w2[0]),
                               rtol=1e-14)
    # A frozen first layer makes the activation's input a constant: homogeneous of degree 1.
    assert mlp((2, 3, 1), activation, frozen={1: w1}).degree == 1
    assert mlp((2, 1), activation).degree == 1  # no hidden layer, no activation


def test_normalized_margin_needs_a_degree():
    model = mlp((2, 3, 1), "tanh")
    weights = model.init(KEY)
    x, y = jnp.array([[1.0, 2.0]]), jnp.array([1.0])
    with pytest.raises(ValueError, match="needs a homogeneous model.*no homogeneity degree"):
        normalized_margin(model, get_loss("logistic"), weights, x, y)
    relu = mlp((2, 3, 1), "relu")
    with pytest.raises(ValueError, match="needs a margin loss; 'square'"):
        normalized_margin(relu, get_loss("square"), relu.init(KEY), x, y)


def test_scales_multiply_each_layers_pre_activation():
    """a_l = tanh(c_l W_l a_{l-1}), f = c_L W_L a_{L-1}: Cisneros-Velarde et al.'s c/sqrt(m)."""
    rng = np.random.default_rng(1)
    w = {"layer1": rng.standard_normal((5, 3)), "layer2": rng.standard_normal((2, 5))}
    x = rng.standard_normal((4, 3))
    model = mlp((3, 5, 2), "tanh", scales=(0.7, 1.3))
    want = 1.3 * np.tanh(0.7 * x @ w["layer1"].T) @ w["layer2"].T
    np.testing.assert_allclose(model.apply(w, x), want, rtol=1e-13)
    with pytest.raises(ValueError, match="2 layers"):
        mlp((3, 5, 2), "tanh", scales=(1.0,))
