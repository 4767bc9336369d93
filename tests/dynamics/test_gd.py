import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wnbias import (
    backtracking,
    constant,
    encode,
    get_loss,
    get_reparam,
    log_spaced_steps,
    loss_adaptive,
    make_log_loss,
    mlp,
    programs,
    run_gd,
)
from wnbias.data.synthetic import xor_points
from wnbias.dynamics import gd
from wnbias.objective import from_terms


def xor_problem(name="ewn"):
    x, y = (jnp.asarray(a) for a in xor_points())
    out = jnp.concatenate([jnp.ones(5), -jnp.ones(5)])[None]
    model = mlp((2, 10, 1), "relu", frozen={2: out})
    reparam = get_reparam(name)
    return model, reparam, make_log_loss(model, reparam, get_loss("logistic")), x, y


def test_constant_rate_matches_a_hand_written_loop():
    model, reparam, log_loss, x, y = xor_problem("plain")
    theta = encode(model.init(jax.random.PRNGKey(0)), reparam)
    result = run_gd(log_loss, theta, (x, y), constant(0.05), max_steps=25, chunk=7)
    loss = jax.jit(lambda th: jnp.exp(log_loss(th, x, y)))
    w = theta
    for _ in range(25):
        w = jax.tree.map(lambda p, g: p - 0.05 * g, w, jax.grad(loss)(w))
    np.testing.assert_allclose(result.theta["layer1"]["w"][0], w["layer1"]["w"], rtol=1e-12)
    assert result.trajectory.counts["steps"][0] == 25
    assert result.trajectory.status_names() == ["budget"]


def _step(rule, log_loss, grad=-1.0):
    """The update of a one-leaf parameter with gradient ``grad`` at log-loss ``log_loss``."""
    params = {"t": jnp.zeros(1)}
    updates, _ = rule.update({"t": jnp.full(1, grad)}, rule.init(params), params,
                             jnp.asarray(log_loss))
    return float(updates["t"][0])


def test_loss_adaptive_step():
    # the step is -eta L grad(log L): eta = lr L^-(1-1/frac), so lr L^(1/frac)
    np.testing.assert_allclose(_step(loss_adaptive(0.3, frac=5), -10.0), 0.3 * np.exp(-2.0))
    np.testing.assert_allclose(_step(loss_adaptive(0.3, 0), -10.0), 0.3)
    np.testing.assert_allclose(_step(constant(0.3), -10.0), 0.3 * np.exp(-10))
    # before any accepted step the previous-loss reference is L = 1: eta = lr
    np.testing.assert_allclose(_step(loss_adaptive(0.3, 5, reference="previous"), -10.0),
                               0.3 * np.exp(-10.0))


def test_backtracking_lr_update():
    log_loss, params = jnp.asarray(-1.0), {"t": jnp.zeros(1)}
    rule = backtracking(loss_adaptive(0.01, 5), lr_limit=0.0105)
    state = rule.init(params)
    up = rule.feedback(state, jnp.asarray(True), log_loss)
    down = rule.feedback(state, jnp.asarray(False), log_loss)
    np.testing.assert_allclose(up["lr"], 0.0105)  # 0.011 capped
    np.testing.assert_allclose(down["lr"], 0.01 / 1.1)
    below = backtracking(loss_adaptive(0.01, 5), lr_limit=0.0105, growth="while_below")
    up = below.feedback(below.init(params), jnp.asarray(True), log_loss)
    np.testing.assert_allclose(up["lr"], 0.011)  # grown past the limit, not capped
    np.testing.assert_allclose(below.feedback(up, jnp.asarray(True), log_loss)["lr"], 0.011)


def _exp_decay():
    """log L(t) = -t: grad log L = -1, so a step is t <- t + c and every step is accepted."""
    return lambda theta: -theta["t"][0]


def test_authors_rule_by_hand_three_steps():
    # lr 1, frac 2 (eta = lr L_ref^-1/2), limit 1.15, x1.1: by hand, with L_ref = 1 before the
    # first step and then the loss of the previous accepted iterate
    rule = backtracking(loss_adaptive(1.0, 2, reference="previous"), lr_limit=1.15,
                        growth="while_below")
    result = run_gd(_exp_decay(), {"t": jnp.zeros(1)}, (), rule, max_steps=3, n_log=100)
    t1 = 0.0 + 1.0 * np.exp(-0.0 - 0.5 * 0.0)  # c = lr L(t_e) L_ref^-(1/2); L_ref = 1
    t2 = t1 + 1.1 * np.exp(-t1 - 0.5 * 0.0)  # reference still L(t0) = 1: it lags one step
    t3 = t2 + 1.21 * np.exp(-t2 - 0.5 * -t1)  # reference L(t1); lr 1.21 > 1.15 stops growing
    np.testing.assert_allclose(-result.trajectory.valid("log_loss"), [0.0, t1, t2, t3], rtol=1e-14)
    np.testing.assert_allclose(result.trajectory.valid("lr"), [1.0, 1.1, 1.21, 1.21], rtol=1e-14)
    # the stateless reading differs from the second step on: c = lr L(t_e)^(1/2)
    paper = backtracking(loss_adaptive(1.0, 2), lr_limit=1.15)
    other = run_gd(_exp_decay(), {"t": jnp.zeros(1)}, (), paper, max_steps=3, n_log=100)
    np.testing.assert_allclose(-other.trajectory.valid("log_loss")[2], t1 + 1.1 * np.exp(-0.5 * t1))
    np.testing.assert_allclose(other.trajectory.valid("lr"), [1.0, 1.1, 1.15, 1.15], rtol=1e-14)


def test_previous_reference_moves_only_on_accepted_steps():
    rule = loss_adaptive(1.0, 2, reference="previous")
    state = rule.feedback(rule.init({}), jnp.asarray(False), jnp.asarray(-7.0))
    assert float(state["ref_log_loss"]) == 0.0
    state = rule.feedback(state, jnp.asarray(True), jnp.asarray(-7.0))
    assert float(state["ref_log_loss"]) == -7.0
    assert state["ref_log_loss"].dtype == jnp.float64


def test_float32_accept_test_resolves_relative_changes_of_1e_6_at_log_loss_minus_300():
    # L = e^-300 (1 + eps e^{k (t-1)^2}): a second example carrying a 1e-6 share of the loss.
    # From t = 0.8 the first attempt overshoots to t = 1.25 (the loss rises); backtracking
    # shrinks lr until a step lands inside (0.8, 1.2), which lowers the loss.
    eps, k = 3e-6, 10.0

    def terms(theta):
        t = theta["t"][0]
        return jnp.stack([jnp.float32(-300.0) + 0 * t,
                          jnp.float32(-300.0 + np.log(eps)) + k * (t - 1) ** 2])

    log_loss = from_terms(terms)
    theta0 = {"t": jnp.asarray([0.8], jnp.float32)}
    grad0 = float(jax.grad(log_loss)(theta0)["t"][0])
    lr = 0.45 / -grad0  # c = lr (frac 0, current loss): the first attempt goes to t = 1.25
    rule = backtracking(loss_adaptive(lr, 0), lr_limit=lr)
    result = run_gd(log_loss, theta0, (), rule, max_steps=1, n_log=10)

    def relative_change(t_new):  # in float64: how much L really moved
        loss = [1 + eps * np.exp(k * (t - 1) ** 2) for t in (0.8, t_new)]
        return loss[1] / loss[0] - 1

    assert relative_change(1.25) == pytest.approx(1.1e-6, rel=0.1)
    # the float32 totals cannot see it: log L is the same float32 number at both points
    assert float(log_loss({"t": jnp.asarray([1.25], jnp.float32)})) == float(log_loss(theta0))
    t1 = float(result.theta["t"][0, 0])
    counts = result.trajectory.counts
    assert counts["attempts"][0] > 1 and counts["steps"][0] == 1  # rejected, then accepted
    assert 0.8 < t1 < 1.2 and -1e-6 < relative_change(t1) < -1e-7
    assert result.theta["t"].dtype == jnp.float32


def test_backtracking_never_accepts_a_loss_increase():
    model, reparam, log_loss, x, y = xor_problem("ewn")
    theta = encode(model.init(jax.random.PRNGKey(3)), reparam)
    # an aggressive schedule, so that many steps are rejected
    rule = backtracking(loss_adaptive(5.0, 2), lr_limit=50.0)
    result = run_gd(log_loss, theta, (x, y), rule, max_steps=400, n_log=20_000, chunk=64)
    steps = result.trajectory.valid("step")
    losses = result.trajectory.valid("log_loss")
    assert np.array_equal(steps, np.arange(len(steps)))  # every accepted step was logged
    counts = result.trajectory.counts
    assert counts["attempts"][0] > counts["steps"][0]  # some steps were rejected
    assert np.all(np.diff(losses) <= 0)


def test_plain_gd_can_raise_the_loss_and_backtracking_cannot():
    model, reparam, log_loss, x, y = xor_problem("plain")
    theta = encode(model.init(jax.random.PRNGKey(3)), reparam)
    plain = run_gd(log_loss, theta, (x, y), loss_adaptive(5.0, 2), max_steps=200, n_log=500)
    assert np.any(np.diff(plain.trajectory.valid("log_loss")) > 0)  # the test above is not vacuous


def test_stops_at_target_and_records_final_state():
    model, reparam, log_loss, x, y = xor_problem("ewn")
    theta = encode(model.init(jax.random.PRNGKey(1)), reparam)
    rule = backtracking(loss_adaptive(0.01, 5), lr_limit=0.1)
    result = run_gd(log_loss, theta, (x, y), rule, max_steps=100_000, target_log_loss=-20.0,
                    record=lambda th: {"a": th["layer1"]["a"]})
    assert result.trajectory.status_names() == ["target"]
    assert -20.5 < result.log_loss[0] <= -20.0
    assert result.trajectory.valid("step")[-1] == result.trajectory.counts["steps"][0]
    assert result.trajectory.valid("log_loss")[-1] == result.log_loss[0]
    np.testing.assert_array_equal(result.trajectory.valid("a")[-1], result.theta["layer1"]["a"][0])
    assert result.trajectory.valid("a").shape == (result.trajectory.length[0], 10)


def test_seeds_under_vmap_equal_separate_runs():
    model, reparam, log_loss, x, y = xor_problem("ewn")
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    thetas = jax.vmap(lambda k: encode(model.init(k), reparam))(keys)
    rule = backtracking(loss_adaptive(0.01, 5), lr_limit=0.1)
    kwargs = dict(max_steps=5000, target_log_loss=-15.0)
    batched = run_gd(log_loss, thetas, (x, y), rule, batched=True, **kwargs)
    for i in range(3):
        single = run_gd(log_loss, jax.tree.map(lambda a, i=i: a[i], thetas), (x, y), rule, **kwargs)
        assert single.trajectory.counts["steps"][0] == batched.trajectory.counts["steps"][i]
        np.testing.assert_allclose(single.theta["layer1"]["v"][0], batched.theta["layer1"]["v"][i],
                                   rtol=1e-10)
    # the seeds stopped at different steps
    assert len(set(batched.trajectory.counts["steps"].tolist())) > 1


def test_nonfinite_loss_stops_and_keeps_last_finite_state():
    def log_loss(theta, x, y):  # finite until theta crosses 1, then NaN
        return jnp.where(theta["t"][0] < 1.0, -theta["t"][0], jnp.nan)

    theta = {"t": jnp.asarray([0.0])}
    rule = constant(0.3)
    # c = 0.3 L, grad = -1: t grows by 0.3 exp(-t) per step and crosses 1 after a few steps
    result = run_gd(log_loss, theta, (None, None), rule, max_steps=1000, n_log=2000)
    assert result.trajectory.status_names() == ["nonfinite"]
    assert np.isfinite(result.log_loss[0]) and result.theta["t"][0, 0] < 1.0
    assert result.trajectory.valid("step")[-1] == result.trajectory.counts["steps"][0] > 0


def test_log_spaced_steps():
    steps = log_spaced_steps(10_000, 50)
    assert steps[0] == 0 and steps[1] == 1 and steps[-1] == 10_000
    assert np.all(np.diff(steps) > 0) and 40 <= len(steps) <= 51


def test_budgets_share_one_program_and_keep_their_own_grid():
    """max_steps is data: the step grid is padded to its longest for n_log, so every budget of
    at least n_log steps reuses the compiled programs, and each run records its own grid."""
    model, reparam, log_loss, x, y = xor_problem("plain")
    theta = encode(model.init(jax.random.PRNGKey(0)), reparam)
    run_gd(log_loss, theta, (x, y), constant(0.05), max_steps=100, n_log=60)
    compiled = len(programs._MEMORY), gd._run_chunk._cache_size()
    for steps in (60, 3000):  # grids of 36 and 53 steps
        result = run_gd(log_loss, theta, (x, y), constant(0.05), max_steps=steps, n_log=60)
        assert (len(programs._MEMORY), gd._run_chunk._cache_size()) == compiled
        assert result.trajectory.status_names() == ["budget"]
        np.testing.assert_array_equal(result.trajectory.valid("step"),
                                      log_spaced_steps(steps, 60))
        assert result.trajectory.series["step"].shape == (1, len(log_spaced_steps(steps, 60)) + 1)


def test_max_steps_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        run_gd(lambda th: th["t"][0], {"t": jnp.zeros(1)}, (), constant(0.1), max_steps=0)


def test_a_run_stuck_at_a_kink_is_stalled_not_out_of_budget():
    # log L = max(t, -2t) - 1 from t = 0: the kink's gradient (-0.5) points uphill, so
    # backtracking rejects every step until lr is so small that the steps change nothing
    # (accepted ties): either way the loss never goes down
    rule = backtracking(loss_adaptive(0.1, 0), lr_limit=0.1)
    log_loss = lambda theta: jnp.maximum(theta["t"][0], -2 * theta["t"][0]) - 1.0  # noqa: E731
    result = run_gd(log_loss, {"t": jnp.zeros(1)}, (), rule, max_steps=10_000, patience=500)
    assert result.trajectory.status_names() == ["stalled"]
    assert result.trajectory.counts["attempts"][0] == 500 and result.log_loss[0] == -1.0
    budget = run_gd(_exp_decay(), {"t": jnp.zeros(1)}, (), rule, max_steps=50)
    assert budget.trajectory.status_names() == ["budget"]
