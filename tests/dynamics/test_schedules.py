"""Every step rule in float32 and float64, compiled once; labels, caps and sweeps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wnbias import backtracking, constant, encode, get_loss, get_reparam, loss_adaptive, mlp
from wnbias.data.synthetic import xor_points
from wnbias.dynamics import gd
from wnbias.dynamics.gd import run_gd
from wnbias.dynamics.schedules import by_label, constant_by_label, relative_rate_cap
from wnbias.objective import make_log_loss

RULES = {
    "constant": lambda: constant(0.5),
    "loss_adaptive": lambda: loss_adaptive(0.05, 5),
    "loss_adaptive_previous": lambda: loss_adaptive(0.05, 5, reference="previous"),
    "backtracking": lambda: backtracking(loss_adaptive(0.05, 5), lr_limit=0.1),
    "backtracking_authors": lambda: backtracking(
        loss_adaptive(0.05, 5, reference="previous"), lr_limit=0.1, growth="while_below"),
    "by_label": lambda: by_label(_radial_angular, {"radial": loss_adaptive(0.05, 5),
                                                   "angular": loss_adaptive(0.01, 5)}),
    "relative_rate_cap": lambda: relative_rate_cap(loss_adaptive(0.05, 5), 0.05),
    "capped_backtracking": lambda: relative_rate_cap(
        backtracking(loss_adaptive(0.05, 5), lr_limit=0.1), 0.05),
}


def _radial_angular(theta):
    return {layer: {"a": "radial", "v": "angular"} for layer in theta}


def _xor(dtype):
    x, y = (jnp.asarray(a, dtype) for a in xor_points())
    model = mlp((2, 6, 1), "relu", frozen={2: jnp.asarray([[1, 1, 1, -1, -1, -1]], dtype)})
    ewn = get_reparam("ewn")
    weights = jax.tree.map(lambda w: w.astype(dtype), model.init(jax.random.PRNGKey(0)))
    return make_log_loss(model, ewn, get_loss("logistic")), encode(weights, ewn), (x, y)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
@pytest.mark.parametrize("name", list(RULES))
def test_every_rule_trains_and_compiles_once(name, dtype):
    log_loss, theta, data = _xor(dtype)
    kwargs = dict(max_steps=300, target_log_loss=-3.0, chunk=100)
    first = run_gd(log_loss, theta, data, RULES[name](), **kwargs)
    assert first.log_loss[0] < log_loss(theta, *data) - 0.2  # it learns
    assert first.theta["layer1"]["v"].dtype == dtype  # the rule's float64 state does not leak
    compiled = gd._run_chunk._cache_size()
    # a new rule object of the same kind with other hyperparameters: no new program
    again = run_gd(log_loss, theta, data, RULES[name](), **kwargs)
    assert gd._run_chunk._cache_size() == compiled
    np.testing.assert_array_equal(again.log_loss, first.log_loss)


def test_a_learning_rate_sweep_is_one_program_and_equals_separate_runs():
    log_loss, theta, data = _xor(jnp.float64)
    rule = backtracking(loss_adaptive(0.01, 5, reference="previous"), lr_limit=0.1,
                        growth="while_below")
    lrs = jnp.asarray([0.003, 0.01, 0.03])
    state = rule.init(theta)
    sweep_state = {k: jnp.broadcast_to(v, (3,)) for k, v in state.items()} | {"lr": lrs}
    thetas = jax.tree.map(lambda a: jnp.broadcast_to(a, (3, *a.shape)), theta)
    kwargs = dict(max_steps=400, target_log_loss=-10.0)
    sweep = run_gd(log_loss, thetas, data, rule, batched=True, rule_state=sweep_state, **kwargs)
    for i, lr in enumerate(lrs):
        single = run_gd(log_loss, theta, data, backtracking(loss_adaptive(
            float(lr), 5, reference="previous"), lr_limit=0.1, growth="while_below"), **kwargs)
        assert single.trajectory.counts["steps"][0] == sweep.trajectory.counts["steps"][i]
        np.testing.assert_allclose(single.log_loss[0], sweep.log_loss[i], rtol=1e-12)
    assert len(set(sweep.trajectory.counts["steps"].tolist())) == 3  # the rates really differ


def test_by_label_gives_each_group_its_own_rate():
    params = {"layer1": {"a": jnp.ones(2), "v": jnp.ones((2, 3))}}
    grad = jax.tree.map(jnp.ones_like, params)
    rule = by_label(_radial_angular, {"radial": constant(2.0), "angular": constant(0.5)})
    updates, _ = rule.update(grad, rule.init(params), params, jnp.asarray(0.0))
    np.testing.assert_allclose(updates["layer1"]["a"], -2.0)
    np.testing.assert_allclose(updates["layer1"]["v"], -0.5)
    with pytest.raises(ValueError, match="labels must give every leaf"):
        by_label(lambda p: {"layer1": {"a": "radial", "v": "other"}},
                 {"radial": constant(1.0)}).init(params)


def test_relative_rate_cap_bounds_every_coordinate():
    params = {"u": jnp.asarray([1e-3, 1.0]), "v": jnp.asarray([2.0])}
    grad = {"u": jnp.asarray([1.0, 1.0]), "v": jnp.asarray([1.0])}
    rule = relative_rate_cap(constant(1.0), 0.1)
    updates, _ = rule.update(grad, rule.init(params), params, jnp.asarray(0.0))
    ratio = jnp.abs(updates["u"]) / jnp.abs(params["u"])
    np.testing.assert_allclose(jnp.max(ratio), 0.1, rtol=1e-12)  # the small coordinate binds
    np.testing.assert_allclose(updates["v"] / updates["u"][1], 1.0)  # one factor: same direction


def test_backtracking_needs_one_learning_rate():
    rule = backtracking(by_label(lambda p: {"t": "x"}, {"x": constant(1.0)}), lr_limit=1.0)
    with pytest.raises(ValueError, match="one learning rate 'lr'"):
        rule.init({"t": jnp.zeros(1)})


def test_constant_by_label_scales_each_label_and_backtracks_as_one_rate():
    labels = {"r": "radial", "phi": "angular"}
    rule = constant_by_label(0.5, lambda params: labels, {"radial": 1.0, "angular": 1e-3})
    params = {"r": jnp.ones(2), "phi": jnp.ones(2)}
    grad = {"r": jnp.asarray([1.0, 2.0]), "phi": jnp.asarray([4.0, -2.0])}
    log_loss = jnp.log(jnp.asarray(3.0))  # L = 3: the step is -lr ratio L grad(log L)
    steps, _ = rule.update(grad, rule.init(params), params, log_loss)
    np.testing.assert_allclose(steps["r"], -0.5 * 3.0 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(steps["phi"], -0.5e-3 * 3.0 * np.array([4.0, -2.0]))
    wrapped = backtracking(rule, lr_limit=10.0, grow=2.0, shrink=4.0)
    state = wrapped.feedback(wrapped.init(params), jnp.asarray(False), log_loss)
    assert float(state["lr"]) == 0.125 and float(state["ratio"]["angular"]) == 1e-3
