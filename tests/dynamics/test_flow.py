"""Gradient flow against closed forms, conserved quantities and its own failure modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import wnbias as wb
from wnbias.dynamics.flow import LogLossClock, TimeClock, run_flow
from wnbias.errors import WnbiasWarning

X, Y = jnp.array([[2.0, 1.0]]), jnp.ones(1)
W0 = np.array([1.0, 1.0])


def simple_traj(name):
    model = wb.coordinate_linear(2)
    reparam = wb.get_reparam(name)
    log_loss = wb.make_log_loss(model, reparam, wb.get_loss("exponential"))
    theta0 = wb.encode({"w": jnp.asarray(W0)[:, None]}, reparam)
    return log_loss, theta0, lambda th: {"w": wb.decode(th, reparam)["w"][:, 0]}


@pytest.mark.parametrize("clock", ["log_loss", "time"])
def test_unnormalized_flow_matches_closed_form(clock):
    """f' = |x|^2 e^-f, so e^f(t) = e^f0 + |x|^2 t and w(t) = w0 + (f - f0) x/|x|^2."""
    log_loss, theta0, record = simple_traj("plain")
    flow_clock = LogLossClock(target_log_loss=-300.0) if clock == "log_loss" else TimeClock(1e4)
    result = run_flow(log_loss, theta0, (X, Y), flow_clock, record=record)
    assert result.trajectory.status_names() == ["target"]
    t, w = result.trajectory.valid("t"), result.trajectory.valid("w")
    f = np.log(np.exp(3.0) + 5.0 * t)
    expected = W0 + ((f - 3.0) / 5.0)[:, None] * np.array([2.0, 1.0])
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    np.testing.assert_allclose(result.trajectory.valid("log_loss"), -f, rtol=1e-6)
    if clock == "log_loss":
        assert result.log_loss[0] == pytest.approx(-300.0)
        # t is carried as u = log(1 + t): its relative error is u's absolute error, ~ rtol * 300
        counts = result.trajectory.counts
        assert counts["time"][0] == pytest.approx((np.exp(300.0) - np.exp(3.0)) / 5.0, rel=2e-5)
        assert counts["solver_steps"][0] < 500  # the log-loss clock: e^300 is a bounded interval
    counts = result.trajectory.counts  # Tsit5: 7 stages, the first the same as the last
    assert counts["function_evaluations"][0] == 1 + 6 * counts["solver_steps"][0]


def test_ewn_flow_conserves_its_closed_form_invariant():
    """EWN: d(1/w_i)/dt = -x_i e^-f, so (1/w0_i - 1/w_i)/x_i is the same S(t) for all i."""
    log_loss, theta0, record = simple_traj("ewn")
    result = run_flow(log_loss, theta0, (X, Y), LogLossClock(-300.0), record=record)
    w = result.trajectory.valid("w")
    s = (1.0 / W0 - 1.0 / w) / np.array([2.0, 1.0])
    np.testing.assert_allclose(s[:, 0], s[:, 1], rtol=1e-7, atol=1e-10)
    assert w[-1, 1] == pytest.approx(2.0, rel=1e-2) and w[-1, 1] < 2.0  # the off-axis limit


# The EWN/SWN flows against their preconditioned unnormalized forms (to 1e-6 relative, with
# ||v_u|| conserved) are tested through the ewn-equivalence experiment in test_experiments.py.


def test_solver_failure_keeps_trajectory_and_says_what_to_change():
    log_loss, theta0, record = simple_traj("ewn")
    result = run_flow(log_loss, theta0, (X, Y), LogLossClock(-300.0), record=record,
                      max_steps=5)
    assert result.trajectory.status_names() == ["solver_failure"]
    message = result.trajectory.message
    assert "log-loss" in message and "raise max_steps" in message
    assert len(result.trajectory.valid("w")) >= 1 and result.log_loss[0] > -300.0


def test_equal_arguments_reuse_the_compiled_solve():
    """The solve is keyed by its static arguments, not by closures built per call or by the
    data: new but equal clocks and solvers, new data arrays and another target or horizon (host
    data) compile nothing more."""
    import diffrax

    from wnbias.dynamics import flow

    log_loss, theta0, record = simple_traj("plain")
    first = run_flow(log_loss, theta0, (X, Y), LogLossClock(-100.0), record=record)
    run_flow(log_loss, theta0, (X, Y), TimeClock(10.0), record=record)
    compiled = flow._solve._cache_size()
    again = run_flow(log_loss, theta0, (jnp.array(X), jnp.array(Y)), LogLossClock(-100.0),
                     record=record, solver=diffrax.Tsit5())
    for key in first.trajectory.series:
        np.testing.assert_array_equal(again.trajectory.series[key], first.trajectory.series[key])
    deeper = run_flow(log_loss, theta0, (X, Y), LogLossClock(-200.0), record=record)
    longer = run_flow(log_loss, theta0, (X, Y), TimeClock(1e3), record=record)
    assert flow._solve._cache_size() == compiled
    assert deeper.log_loss[0] == pytest.approx(-200.0)
    assert longer.trajectory.counts["time"][0] == 1e3


def test_time_budget_stops_early():
    log_loss, theta0, record = simple_traj("plain")
    result = run_flow(log_loss, theta0, (X, Y), LogLossClock(-300.0, t_max=1e6))
    assert result.trajectory.status_names() == ["time_budget"]
    assert 1e6 <= result.trajectory.counts["time"][0] < 1e7 and -20 < result.log_loss[0] < -10


def test_unknown_or_ill_configured_clock_is_a_clear_error():
    """The initial log-loss is -3: a clock that cannot run from there says what it needs."""
    log_loss, theta0, _ = simple_traj("plain")
    for unknown in ("log_loss", None):
        with pytest.raises(ValueError, match="unknown clock .*allowed: LogLossClock.*TimeClock"):
            run_flow(log_loss, theta0, (X, Y), unknown)
    for target in (0.0, -3.0, np.nan, None):
        with pytest.raises(ValueError, match="target_log_loss below the initial log-loss -3"):
            run_flow(log_loss, theta0, (X, Y), LogLossClock(target_log_loss=target))
    for t_end in (0.0, -1.0, np.nan, None):
        with pytest.raises(ValueError, match="TimeClock needs a positive t_end"):
            run_flow(log_loss, theta0, (X, Y), TimeClock(t_end=t_end))
    with pytest.raises(TypeError):
        LogLossClock()  # the target is required
    with pytest.raises(AttributeError):
        TimeClock(1.0).t_end = 2.0  # frozen


def test_loose_tolerance_is_caught_by_the_clock_check():
    """In the log-loss clock the true log L is recorded beside the clock; a drift fails."""
    model = wb.mlp((2, 8, 1), "relu2")
    import jax

    from wnbias.data.synthetic import lin_sep_points

    x, y, _, _ = lin_sep_points(2137)
    reparam = wb.get_reparam("ewn")
    log_loss = wb.make_log_loss(model, reparam, wb.get_loss("logistic"))
    theta0 = wb.encode(model.init(jax.random.PRNGKey(2137)), reparam)
    tight = run_flow(log_loss, theta0, (x, y), LogLossClock(-40.0))
    assert tight.trajectory.status_names() == ["target"]
    np.testing.assert_allclose(tight.trajectory.valid("log_loss"),
                               tight.trajectory.valid("clock_log_loss"), atol=1e-5)
    loose = run_flow(log_loss, theta0, (x, y), LogLossClock(-40.0), rtol=1e-2, atol=1e-2)
    assert loose.trajectory.status_names() == ["solver_failure"]
    assert "tighten rtol" in loose.trajectory.message


def test_batched_flow_with_per_seed_rates_is_each_seed_alone():
    """d theta/dt = -r grad L on L = (a^2 + b^2)/2 with a rate per leaf and per seed: a(t) =
    a0 e^(-r_a t), b(t) = b0 e^(-r_b t), every seed of the batch on its own."""
    def log_loss(theta):
        return jnp.log((theta["a"] ** 2 + theta["b"] ** 2) / 2)

    theta0 = {"a": jnp.asarray([1.0, 2.0, -1.0]), "b": jnp.asarray([0.5, 1.0, 3.0])}
    rates = {"a": jnp.asarray([1.0, 0.1, 3.0]), "b": jnp.asarray([1.0, 2.0, 0.5])}
    record = lambda th: {"a": th["a"], "b": th["b"]}  # noqa: E731
    run = run_flow(log_loss, theta0, (), TimeClock(t_end=2.0), rates=rates, batched=True,
                   record=record, rtol=1e-10, atol=1e-12, n_save=20)
    t = run.trajectory
    assert list(t.status_names()) == ["target"] * 3
    for i in range(3):
        time = t.valid("t", i)
        for leaf in ("a", "b"):
            exact = float(theta0[leaf][i]) * np.exp(-float(rates[leaf][i]) * time)
            np.testing.assert_allclose(t.valid(leaf, i), exact, rtol=1e-8)
    alone = run_flow(log_loss, jax.tree.map(lambda v: v[1], theta0), (), TimeClock(t_end=2.0),
                     rates=jax.tree.map(lambda v: v[1], rates), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(run.theta["a"][1], alone.theta["a"][0], rtol=1e-12)


def test_a_float32_start_is_integrated_in_float64_and_says_so():
    log_loss, theta0, record = simple_traj("ewn")
    start = jax.tree.map(lambda a: a.astype(jnp.float32), theta0)
    data = (X.astype(jnp.float32), Y.astype(jnp.float32))
    with pytest.warns(WnbiasWarning, match="integrates in float64"):
        run = run_flow(log_loss, start, data, LogLossClock(target_log_loss=-5.0), record=record)
    assert all(a.dtype == np.float64 for a in jax.tree.leaves(run.theta))
