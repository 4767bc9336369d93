import jax.numpy as jnp
import numpy as np

from wnbias import get_loss, mlp
from wnbias.measure.margin import normalized_margin, total_norm
from wnbias.measure.neurons import (
    count_dominant,
    neuron_grad_cosines,
    neuron_norms,
    relative_neuron_norms,
)


def test_neuron_norms_and_relative_norms():
    w = jnp.array([[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]])
    norms = neuron_norms({"layer1": w})["layer1"]
    np.testing.assert_allclose(norms, [5.0, 1.0, 10.0])
    np.testing.assert_allclose(relative_neuron_norms(norms), [0.5, 0.1, 1.0])
    assert int(count_dominant(norms, 0.5)) == 2
    assert int(count_dominant(norms, 0.1)) == 3
    assert int(count_dominant(norms, 0.11)) == 2


def test_count_dominant_over_a_seed_axis():
    norms = jnp.array([[1.0, 0.05, 0.5], [2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(count_dominant(norms, 0.1), [2, 3])


def test_grad_cosines_by_hand():
    # log L = log sum_i exp(-y_i <w, x_i>) with one point: grad_w log L = -y x
    x, y = jnp.array([[2.0, 0.0]]), jnp.array([1.0])
    model_loss = get_loss("exponential")

    def log_loss(weights):
        return model_loss.log_total(x @ weights["w"][0], y)

    cos = neuron_grad_cosines(log_loss, {"w": jnp.array([[1.0, 1.0]])})["w"]
    np.testing.assert_allclose(cos, [-1 / np.sqrt(2)], rtol=1e-14)
    cos = neuron_grad_cosines(log_loss, {"w": jnp.array([[3.0, 0.0]])})["w"]
    np.testing.assert_allclose(cos, [-1.0], rtol=1e-14)


def test_normalized_margin_by_hand():
    model = mlp((2, 2, 1), "relu")
    w = {"layer1": jnp.array([[1.0, 0.0], [0.0, 1.0]]), "layer2": jnp.array([[1.0, 1.0]])}
    x = jnp.array([[1.0, 2.0], [3.0, 0.0]])  # f = 3 and 3
    y = jnp.array([1.0, 1.0])
    np.testing.assert_allclose(total_norm(w), 2.0)
    np.testing.assert_allclose(normalized_margin(model, get_loss("logistic"), w, x, y), 3 / 4)
    scaled = {k: 5 * v for k, v in w.items()}  # scale invariance
    np.testing.assert_allclose(normalized_margin(model, get_loss("logistic"), scaled, x, y), 3 / 4)
