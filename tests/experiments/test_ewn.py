"""Both experiments end to end on a small budget, and the claims they compute."""

import numpy as np
import pytest
from outcomes import judged

from wnbias.config import resolve
from wnbias.errors import ConfigError
from wnbias.experiments import EXPERIMENTS, ewn_simple_traj, ewn_xor


def test_registry_names_are_kebab_case():
    assert set(EXPERIMENTS) >= {"ewn-simple-traj", "ewn-xor"}
    for name, exp in EXPERIMENTS.items():
        assert name == exp.name and name == name.lower() and "_" not in name


def test_simple_traj_small_budget():
    config = resolve(ewn_simple_traj.Config, {"inits": "1,1;1,3", "target_log_loss": "-20"})
    result = judged(ewn_simple_traj, config)
    names = [c.name for c in result.claims]
    assert names[:2] == [
        "EWN from (1, 1) ends on the w1 axis", "EWN from (1, 3) ends on the w2 axis"
    ]
    assert all(c.holds for c in result.claims[:3])  # axes and straight lines, even at -20
    assert result.trajectories["ewn"].n_seeds == 2
    assert "trajectories" in result.figures
    # the unnormalized path is exactly w0 + c x
    moves = result.trajectories["plain"].valid("w")[1:] - [1.0, 1.0]
    np.testing.assert_allclose(moves[:, 0], 2 * moves[:, 1], rtol=1e-12)


def test_straight_lines_are_judged_at_the_runs_precision():
    """float32 rounds w(t) to ~1e-7: the straight-line claim's tolerance scales with eps, and a
    path bent off the line by more than that fails it."""
    config = resolve(ewn_simple_traj.Config, {"inits": "1,1", "target_log_loss": "-20",
                                              "dtype": "float32", "parameterizations": "plain"})
    result = judged(ewn_simple_traj, config)
    straight = next(c for c in result.claims if c.name.startswith("Unnormalized GD moves"))
    assert straight.holds and "eps of float32" in straight.measured
    path = result.trajectories["plain"].valid("w").astype(np.float64)
    bent = path + 1e-4 * np.linspace(0, 1, len(path))[:, None] * np.array([1.0, -2.0])
    claims = ewn_simple_traj._claims(config, np.array([[1.0, 1.0]]), np.array([2.0, 1.0]),
                                     {"plain": [bent]}, {"plain": np.array([1])},
                                     {"plain": np.array([True])})
    assert not next(c for c in claims if c.name.startswith("Unnormalized GD moves")).holds


def test_off_axis_limit_closed_form():
    limits = ewn_simple_traj.off_axis_limits(np.array([1.0, 1.0]), np.array([2.0, 1.0]))
    assert limits[0] == np.inf and limits[1] == pytest.approx(2.0)
    assert ewn_simple_traj.predicted_axis(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == 1


def test_simple_traj_bad_inits():
    for bad in ("1,1;2", "a,b", "0,1"):
        with pytest.raises(ConfigError, match="inits"):
            resolve(ewn_simple_traj.Config, {"inits": bad})


def test_xor_small_budget(smoke_run):  # the smoke preset: 2 seeds to log-loss -8
    record, result = smoke_run("ewn-xor")
    assert {c["name"] for c in record.summary["claims"]} >= {
        "EWN has far fewer dominant neurons than unnormalized GD",
        "Unnormalized GD keeps every neuron",
    }
    for name in ("plain", "swn", "ewn"):
        m = result.metrics[name]
        assert m["status"] == ["target", "target"]
        assert all(v <= -8 for v in m["final_log_loss"])
        assert len(m["dominant_neurons"]) == 2
        assert result.trajectories[name].series["neuron_norms"].shape[:1] == (2,)
        assert m["median_cos_w_grad_dominant"] < 0  # gradients point against the weights
    assert set(record.figures) == {"neuron_norms", "relative_norms"}


def test_equivalence_experiment(smoke_run):  # the smoke preset: T = 1, three GD steps
    record, result = smoke_run("ewn-equivalence")
    claims = record.summary["claims"]
    assert all(c["holds"] for c in claims), [c["measured"] for c in claims]
    assert result.metrics["max_relative_deviation"]["ewn"] < 1e-6
    devs = list(result.metrics["gd_deviation"].values())
    assert devs[0] > devs[1] > devs[2]  # GD converges to the flow as the step shrinks
    assert 0.8 < result.metrics["gd_order"] < 1.2


@pytest.mark.parametrize("dynamics", ["gd", "flow"])
def test_lin_sep_small_budget(dynamics, smoke_run):  # the smoke preset, to log-loss -40
    from wnbias.experiments import ewn_lin_sep

    if dynamics == "gd":
        record, result = smoke_run("ewn-lin-sep")
        names = [c["name"] for c in record.summary["claims"]]
    else:
        config = resolve(ewn_lin_sep.Config, {**ewn_lin_sep.EXPERIMENT.presets["smoke"],
                                              "dynamics": "flow"})
        result = judged(ewn_lin_sep, config)
        names = [c.name for c in result.claims]
    assert any("slope -1" in n for n in names) and any("slope +1" in n for n in names)
    for name in ("ewn", "swn"):
        m = result.metrics[name]
        assert -60 < m["final_log_loss"] <= -40 + 1e-6  # one GD step may overshoot the target
        assert len(m["final_neuron_norms"]) == 9  # 8 hidden neurons + the output neuron
        assert m["final_loss_direction"][1] < 1e-3  # the non-support point of the authors' data
        assert -1 - 1e-12 <= m["final_cos_grad_gtilde"] < -0.99
        assert m["normalized_margin_final"] > m["normalized_margin_initial"]
    if dynamics == "gd":
        assert all(result.metrics[n]["status"] == "target" for n in ("ewn", "swn"))
    else:
        assert result.metrics["ewn"]["solver_steps"] < 2000


def test_lin_sep_data_is_the_authors():
    from wnbias.data.synthetic import conv_rate_points, lin_sep_points

    x, y, x_test, _ = lin_sep_points(2137)
    np.testing.assert_allclose(x[[0, 2]], [[1, 1], [-1, 1]])
    assert np.all(y[:2] == -1) and np.all(y[2:] == 1) and len(x_test) == 100
    x, y, _, _, w_init = conv_rate_points(6782)
    initial_bce = np.sum(np.log1p(np.exp(-y * (x @ w_init))))
    assert initial_bce == pytest.approx(3.772, abs=5e-4)  # the authors' logged initial loss


def test_conv_rate_small(smoke_run):  # the smoke preset: depths 1, 2, width 10, 300 epochs
    _, result = smoke_run("ewn-conv-rate")
    assert result.metrics["separable"]
    finals = result.metrics["gd_final_loss"]
    assert set(finals) == {f"{n}/depth{d}" for n in ("plain", "swn", "ewn") for d in (1, 2)}
    assert all(0 < v < 3.772 for v in finals.values())  # below the shared initial loss
    for key in ("flow_plain_depth1", "flow_ewn_depth1", "flow_plain_depth2", "flow_ewn_depth2"):
        m = result.metrics[key]
        assert m["p_interval"][0] <= m["p"] <= m["p_interval"][1]
        assert m["solver_steps"] < 5000
    # the depth-1 unnormalized model is linear: L ~ 1/t, so p is near 0 even this early
    assert abs(result.metrics["flow_plain_depth1"]["p"]) < 0.3
    assert result.metrics["flow_ewn_depth1"]["p"] > 1.0


def test_conv_rate_same_end_to_end_init():
    import jax

    from wnbias.experiments.ewn_conv_rate import same_end_to_end_init

    w_init = np.array([-0.675, -0.3185])
    for depth in (1, 2, 4):
        w = same_end_to_end_init(jax.random.PRNGKey(0), depth, 7, w_init)
        product = np.eye(2)
        for layer in range(1, depth + 1):
            product = w[f"layer{layer}"] @ product
        np.testing.assert_allclose(product[0], w_init, rtol=1e-12)


def test_conv_rate_non_separable_is_reported():
    from wnbias.experiments import ewn_conv_rate

    config = resolve(ewn_conv_rate.Config, {
        "depths": "1", "width": "4", "epochs": "50", "flip_labels": "3",
        "parameterizations": "ewn",
    })
    result = judged(ewn_conv_rate, config)
    assert result.metrics["separable"] is False
    (claim,) = [c for c in result.claims if "rate" in c.name.lower()]
    assert "not linearly separable" in claim.measured and not claim.holds
    assert not any(k.startswith("flow_") for k in result.metrics)


def test_conv_rate_spread_of_a_zero_loss_fails_its_claim_with_the_reason():
    """A huge lr can underflow a final loss to 0: the spread claim fails and says why (it used
    to end in ZeroDivisionError after all the compute)."""
    from wnbias.experiments import ewn_conv_rate

    config = resolve(ewn_conv_rate.Config, {"depths": "1,2", "parameterizations": "ewn,plain"})
    gd_final = {"ewn/depth1": 0.0, "ewn/depth2": 1e-3, "plain/depth1": 0.1,
                "plain/depth2": 1e-3}
    claims = ewn_conv_rate._claims(config, False, gd_final, {})
    (spread,) = [c for c in claims if "spread" in c.name]
    assert not spread.holds and "EWN undefined (a final loss is 0" in spread.measured
    assert "unnormalized x100.0" in spread.measured


@pytest.mark.parametrize(
    ("experiment", "overrides", "message"),
    [
        ("ewn-conv-rate", {"depths": ""}, "needs at least one value"),
        ("ewn-conv-rate", {"fit_window": "1.0,0.5"}, "0 <= lo < hi <= 1"),
        ("ewn-conv-rate", {"width": "1"}, "width >= 2"),
        ("ewn-conv-rate", {"depths": "1,1"}, "repeats a value"),
        ("ewn-lin-sep", {"scatter_log_losses": "100"}, "must lie in"),
        ("ewn-lin-sep", {"dominance_threshold": "2"}, "must be <= 1"),
        ("ewn-simple-traj", {"target_log_loss": "5"}, "must be below every init"),
        ("ewn-simple-traj", {"point": "2,1,1"}, "inits of 2 coordinates but point has 3"),
        ("ewn-simple-traj", {"point": "0,0"}, "must be non-zero"),
        ("ewn-xor", {"width": "3"}, "must be even"),
        ("ewn-xor", {"n_seeds": "100000000"}, "too many"),
        ("ewn-equivalence", {"gd_steps": "0.003"}, "at least two step sizes"),
        ("ewn-equivalence", {"gd_steps": "0.7,0.2"}, "whole number"),
    ],
)
def test_config_constraints_between_fields(experiment, overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve(EXPERIMENTS[experiment].config, overrides)


def test_simple_traj_tie_is_not_claimed():
    config = resolve(ewn_simple_traj.Config, {"point": "1,1", "inits": "1,1",
                                              "target_log_loss": "-20"})
    claim = judged(ewn_simple_traj, config).claims[0]
    assert not claim.holds and "unique largest" in claim.measured


def _xor_metrics(swn_finished: int, n: int = 8):
    metrics = {}
    for arm, dominant in (("plain", 20), ("swn", 17), ("ewn", 5)):
        done = n if arm != "swn" else swn_finished
        metrics[arm] = {"status": ["target"] * done + ["stalled"] * (n - done),
                        "dominant_neurons": [dominant] * n}
    return metrics


@pytest.mark.parametrize("swn_finished", [7, 3])
def test_xor_claims_survive_unfinished_seeds(swn_finished):
    config = resolve(ewn_xor.Config)
    metrics = _xor_metrics(swn_finished)
    norms = {arm: np.ones((8, 20)) for arm in metrics}
    steps = {"plain": np.full(8, 1600), "swn": np.full(8, 1500), "ewn": np.full(8, 2800)}
    claims = {c.name: c for c in ewn_xor._claims(config, norms, steps, metrics)}
    sparse = claims["EWN has far fewer dominant neurons than unnormalized GD"]
    assert sparse.holds and "EWN 8/8, unnormalized 8/8" in sparse.measured
    dense = claims["SWN stays dense: many more dominant neurons than EWN"]
    epochs = [c for name, c in claims.items() if "epochs" in name][0]
    if swn_finished == 7:
        assert dense.holds and "SWN 7/8" in dense.measured
        assert epochs.holds
    else:  # fewer than half: only the claims that concern SWN fail, and say why
        assert not dense.holds and "fewer than half" in dense.measured
        assert "SWN 3/8" in dense.measured
        assert epochs.holds  # EWN against unnormalized: SWN's seeds do not matter
        assert claims["Unnormalized GD keeps every neuron"].holds


def test_xor_init_from_round_trip(tmp_path):
    from wnbias.initial import save_initial_parameters

    overrides = {"n_seeds": "2", "target_log_loss": "-6", "parameterizations": "swn,ewn"}
    first = judged(ewn_xor, overrides)
    save_initial_parameters(tmp_path / "init.npz", first.initial["initial_parameters"])
    again = judged(ewn_xor, {**overrides, "n_seeds": "5", "init": "jax",
                             "init_from": str(tmp_path / "init.npz")})
    assert again.metrics["n_seeds"] == 2  # the file's seeds win
    for arm in ("swn", "ewn"):
        assert again.metrics[arm]["epochs"] == first.metrics[arm]["epochs"]
        assert again.metrics[arm]["final_log_loss"] == first.metrics[arm]["final_log_loss"]


def test_lin_sep_init_from_needs_one_seed(tmp_path):
    from wnbias.experiments import ewn_lin_sep

    np.savez(tmp_path / "w.npz", layer1=np.ones((2, 8, 2)), layer2=np.ones((2, 1, 8)))
    with pytest.raises(ConfigError, match="holds 2 seeds; ewn-lin-sep runs one"):
        resolve(ewn_lin_sep.Config, {"init_from": str(tmp_path / "w.npz")})


@pytest.mark.parametrize("direction", ["solved", "unit"])
def test_conv_rate_last_layer_keeps_the_solved_direction(direction):
    from wnbias.experiments import ewn_conv_rate

    config = resolve(ewn_conv_rate.Config, {"depths": "2", "width": "5",
                                            "last_layer_direction": direction})
    thetas = ewn_conv_rate._initial_thetas(config, 2, __import__("jax").random.PRNGKey(0))
    w_last = np.exp(thetas["ewn"]["layer2"]["a"])
    v_norm = np.linalg.norm(thetas["ewn"]["layer2"]["v"])
    np.testing.assert_allclose(v_norm, w_last if direction == "solved" else 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(thetas["ewn"]["layer1"]["v"], axis=1), 1.0)
    np.testing.assert_allclose(thetas["swn"]["layer2"]["g"], w_last, rtol=1e-12)
