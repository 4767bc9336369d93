"""Diagonal linear networks: the model against NumPy, both layouts at alpha 1, and the engine's
gradient flow against the plain flow's closed-form limit and the polar flow's invariant."""

import jax.numpy as jnp
import numpy as np
import pytest

import wnbias as wb
from wnbias.measure import make_instance, polar_pair_invariant, woodworth_limit
from wnbias.models import alpha_init, diagonal_linear, diagonal_vector


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_both_layouts_predict_a_times_u_to_the_l_minus_v_to_the_l(depth):
    rng = np.random.RandomState(depth)
    a, u, v = rng.randn(4, 6), rng.randn(6), rng.randn(6)
    pair = diagonal_linear(6, depth, "pair")
    vector = diagonal_linear(6, depth, "vector")
    expected = a @ (u**depth - v**depth)
    assert pair.degree == vector.degree == depth
    np.testing.assert_allclose(pair.apply({"pairs": jnp.stack([u, v], 1)}, a), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(vector.apply({"u": jnp.asarray(u)[None],
                                             "v": jnp.asarray(v)[None]}, a), expected,
                               rtol=1e-12)
    product = diagonal_linear(6, depth, form="product")
    np.testing.assert_allclose(product.apply({"pairs": jnp.stack([u, v], 1)}, a), a @ (u * v),
                               rtol=1e-12)


@pytest.mark.parametrize(("reading", "reparam"), [("pair", "polar"), ("vector", "swn")])
def test_alpha_start_round_trips_and_keeps_x_at_zero(reading, reparam):
    r = wb.get_reparam(reparam)
    w = alpha_init(5, 0.3, reading)
    back = wb.decode(wb.encode(w, r), r)
    for key in w:
        np.testing.assert_allclose(back[key], w[key], rtol=1e-14)
    np.testing.assert_allclose(diagonal_vector(back), 0.0, atol=1e-15)
    if reparam == "polar":
        theta = wb.encode(w, r)["pairs"]
        np.testing.assert_allclose(theta["r"], 0.3 * np.sqrt(2), rtol=1e-14)
        np.testing.assert_allclose(theta["phi"], np.pi / 4, rtol=1e-14)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="allowed: pair, vector"):
        diagonal_linear(4, 2, "stacked")
    with pytest.raises(ValueError, match="depth >= 2"):
        diagonal_linear(4, 1)


def test_engine_flows_match_the_closed_form_limit_and_the_polar_invariant():
    """Plain depth-2 flow ends at Woodworth et al.'s limit; the per-pair polar flow with rates
    (1, 1/rho) conserves r_i^2 + rho log|sin 2 phi_i|. Both in one batched solve per model."""
    a, y, _ = make_instance(8, 12, 2, seed=1)
    data = (jnp.asarray(a), jnp.asarray(y))
    square = wb.get_loss("square")
    plain = wb.make_log_loss(diagonal_linear(12, 2), wb.get_reparam("plain"), square)
    alphas = (0.05, 1.0)
    theta0 = {"pairs": {"w": jnp.stack([alpha_init(12, al)["pairs"] for al in alphas])}}
    run = wb.run_flow(plain, theta0, data, wb.LogLossClock(target_log_loss=-45.0), batched=True,
                      rtol=1e-10, atol=1e-12)
    assert run.trajectory.status_names() == ["target", "target"]
    for i, al in enumerate(alphas):
        x = diagonal_vector({"pairs": run.theta["pairs"]["w"][i]})
        np.testing.assert_allclose(x, woodworth_limit(a, y, al), atol=1e-7)

    polar = wb.make_log_loss(diagonal_linear(12, 2), wb.get_reparam("polar"), square)
    rho = jnp.asarray([10.0, 1e3])
    start = wb.encode(alpha_init(12, 0.5), wb.get_reparam("polar"))
    theta0 = {"pairs": {k: jnp.stack([v, v]) for k, v in start["pairs"].items()}}
    run = wb.run_flow(polar, theta0, data, wb.LogLossClock(target_log_loss=-20.0), batched=True,
                      rates={"pairs": {"r": jnp.ones(2), "phi": 1.0 / rho}}, rtol=1e-10,
                      atol=1e-12, record=lambda th: {"r": th["pairs"]["r"],
                                                     "phi": th["pairs"]["phi"]})
    t = run.trajectory
    for i in range(2):
        inv = polar_pair_invariant(t.valid("r", i), t.valid("phi", i), float(rho[i]))
        np.testing.assert_allclose(inv, 2 * 0.5**2, rtol=1e-6)
        assert np.ptp(t.valid("phi", i)) > 1e-3  # the angles did move
