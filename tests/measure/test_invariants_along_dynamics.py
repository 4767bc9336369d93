"""The conserved quantities of Min et al. (arXiv 2105.06351) and Wu et al. (NeurIPS 2020) along
the library's own dynamics: they move by O(step^2) per GD step and by the solver's error under
the flow.

Min et al.: f(x) = V U^T x, L = ||X U V^T - Y||_F^2 / 2, with R = X U V^T - Y the gradients are
G_U = X^T R V and G_V = R^T X U. One GD step of size eta changes the imbalance
D = U_1^T U_1 - V^T V by exactly eta^2 (G_U^T G_U - G_V^T G_V): the first-order terms
U^T X^T R V cancel, and G_U lies in the row space of X, so U_2 does not move at all.

Wu et al.: x = g v/||v||, g stepped with rate c eta and v with eta; ||P v^|| exp(g^2/(2c)) is
conserved by the flow (with ||v|| = 1), so a GD step changes it by O(eta^2).

Each GD check is one ``run_gd`` call over the three step sizes eta, eta/2, eta/4 (one seed each,
the rate carried in the rule state), so every seed of a test reuses one compiled program. The
flows at a loose and a tight tolerance are what is slow (each ``run_flow`` call compiles): both
problems share each solve.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import wnbias as wb
from wnbias.measure.least_squares import null_space_projector, rpgd_stable, wn_invariant
from wnbias.measure.linear_networks import imbalance, row_space, split_u

D_IN, N, H, M = 6, 3, 5, 2  # Min et al.: X (N x D_IN), U (D_IN x H), V (M x H)
N_WU, D_WU = 3, 7  # Wu et al.: A (N_WU x D_WU)
STEPS = 3  # GD steps per run
HALVINGS = np.array([1.0, 0.5, 0.25])
TOLERANCES = (1e-6, 1e-10)  # the flow's rtol, loose and tight (atol = rtol / 100)

MIN_OBJECTIVE = wb.make_log_loss(wb.deep_linear((D_IN, H, M)), wb.get_reparam("plain"),
                                 wb.get_loss("square"))
WU_OBJECTIVE = wb.make_log_loss(wb.deep_linear((D_WU, 1)), wb.get_reparam("swn"),
                                wb.get_loss("square"))


def _record_uv(theta):
    return {"u": theta["layer1"]["w"].T, "v": theta["layer2"]["w"]}


def _record_gv(theta):
    return {"g": theta["layer1"]["g"][0], "v": theta["layer1"]["v"][0]}


def _radial_angular(theta):
    return {"layer1": {"g": "radial", "v": "angular"}}


WN_RULE = wb.by_label(_radial_angular, {"radial": wb.constant(1.0),
                                        "angular": wb.constant(1.0)})


def _orders(etas, changes):
    """The fitted order of ``changes`` in ``etas`` and the order of each halving."""
    logs, log_changes = np.log(etas), np.log(changes)
    fitted = np.polyfit(logs, log_changes, 1)[0]
    return fitted, np.diff(log_changes) / np.diff(logs)


def _assert_second_order(etas, changes):
    fitted, halvings = _orders(etas, changes)
    assert 1.9 <= fitted <= 2.1, (fitted, halvings)
    assert np.all((halvings >= 1.9) & (halvings <= 2.1)), halvings  # ~4x per halving


def _copies(theta, k):
    return {layer: {name: jnp.stack([jnp.asarray(a)] * k) for name, a in leaves.items()}
            for layer, leaves in theta.items()}


# Min et al.


def _min_problem(seed):
    rng = np.random.RandomState(seed)
    x, y = rng.randn(N, D_IN), rng.randn(N, M)
    return x, y, 0.5 * rng.randn(D_IN, H), 0.5 * rng.randn(M, H)


def _min_theta(u, v):
    return {"layer1": {"w": jnp.asarray(u.T)}, "layer2": {"w": jnp.asarray(v)}}


def _exact_one_step_change(x, y, u, v, eta):
    """eta^2 (G_U^T G_U - G_V^T G_V) with the gradients written out by hand."""
    r = x @ u @ v.T - y
    g_u, g_v = x.T @ r @ v, r.T @ x @ u
    return eta**2 * (g_u.T @ g_u - g_v.T @ g_v)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gd_moves_the_imbalance_by_exactly_the_second_order_term_and_never_u2(seed):
    x, y, u, v = _min_problem(seed)
    rs = row_space(x)
    etas = 5e-4 * HALVINGS
    run = wb.run_gd(MIN_OBJECTIVE, _copies(_min_theta(u, v), len(etas)),
                    (jnp.asarray(x), jnp.asarray(y)), wb.constant(1.0), max_steps=STEPS,
                    batched=True, rule_state={"lr": jnp.asarray(etas)}, record=_record_uv)
    t = run.trajectory
    assert t.status_names() == ["budget"] * len(etas)
    total_changes = []
    for i, eta in enumerate(etas):
        np.testing.assert_array_equal(t.valid("step", i), np.arange(STEPS + 1))
        us, vs = t.valid("u", i), t.valid("v", i)
        d = np.stack([imbalance(p, q, rs) for p, q in zip(us, vs, strict=True)])
        for k in range(STEPS):  # each step: exactly eta^2 (G_U^T G_U - G_V^T G_V)
            np.testing.assert_allclose(d[k + 1] - d[k],
                                       _exact_one_step_change(x, y, us[k], vs[k], eta),
                                       rtol=0, atol=1e-13)
        u2 = np.stack([split_u(p, rs)[1] for p in us])
        np.testing.assert_allclose(u2, np.broadcast_to(u2[0], u2.shape), rtol=0, atol=1e-14)
        total_changes.append(np.linalg.norm(d[-1] - d[0]))
    _assert_second_order(etas, total_changes)  # over STEPS steps, with the O(eta^3) drift


# Wu et al.


def _wu_problem(seed):
    rng = np.random.RandomState(seed)
    a = rng.randn(N_WU, D_WU) / np.sqrt(N_WU)
    y = a @ rng.randn(D_WU)
    w0 = rng.randn(D_WU)
    return a, y, w0 / np.linalg.norm(w0)


def _wu_theta(g0, w0):
    return {"layer1": {"g": jnp.array([g0]), "v": jnp.asarray(w0)[None]}}


CASES = [(0, 1.0, 0.5), (1, 1.5, 1.0), (2, 0.7, 2.0)]  # (seed, g0, c)


@pytest.mark.parametrize(("seed", "g0", "c"), CASES)
def test_wn_gd_moves_the_invariant_by_second_order_in_the_step(seed, g0, c):
    a, y, w0 = _wu_problem(seed)
    etas = 1e-3 * HALVINGS
    assert rpgd_stable(etas[0], g0, a)
    run = wb.run_gd(WU_OBJECTIVE, _copies(_wu_theta(g0, w0), len(etas)),
                    (jnp.asarray(a), jnp.asarray(y)), WN_RULE, max_steps=STEPS, batched=True,
                    rule_state={"radial": {"lr": jnp.asarray(c * etas)},
                                "angular": {"lr": jnp.asarray(etas)}},
                    record=_record_gv)
    t = run.trajectory
    assert t.status_names() == ["budget"] * len(etas)
    projector = null_space_projector(a)
    changes = []
    for i in range(len(etas)):
        g, v = t.valid("g", i), t.valid("v", i)
        assert len(g) == STEPS + 1 and np.all(np.diff(g) != 0)  # g does move
        invariant = wn_invariant(g, v, projector, c)
        changes.append(abs(invariant[-1] / invariant[0] - 1))
    _assert_second_order(etas, changes)


# Both flows


def _joint_terms(theta, x, y, a, b):
    """log L_min and log L_wu: the joint log-loss is log(L_min + L_wu) and, the parameters being
    disjoint, its flow d theta/dt = -P grad L is the two flows side by side (one compiled
    program per tolerance instead of two)."""
    return jnp.stack([MIN_OBJECTIVE(theta["min"], x, y), WU_OBJECTIVE(theta["wu"], a, b)])


JOINT_OBJECTIVE = wb.from_terms(_joint_terms)


def _record_joint(theta):
    (u, v), (g, w) = _record_uv(theta["min"]).values(), _record_gv(theta["wu"]).values()
    return {"u": u, "v": v, "g": g, "w": w}


def test_flows_keep_both_invariants_to_the_solver_tolerance():
    x, y, u, v = _min_problem(0)
    seed, g0, c = CASES[1]
    a, b, w0 = _wu_problem(seed)

    def rates(theta, grad):  # Wu's flow: dg/dt = -c dL/dg, dv/dt = -dL/dv; Min's: plain
        wu = grad["wu"]["layer1"]
        return {"min": grad["min"], "wu": {"layer1": {"g": c * wu["g"], "v": wu["v"]}}}

    data = tuple(jnp.asarray(z) for z in (x, y, a, b))
    theta0 = {"min": _min_theta(u, v), "wu": _wu_theta(g0, w0)}
    rs, projector = row_space(x), null_space_projector(a)
    drifts = {"imbalance": {}, "wn_invariant": {}}
    for rtol in TOLERANCES:
        run = wb.run_flow(JOINT_OBJECTIVE, theta0, data, wb.TimeClock(t_end=10.0),
                          preconditioner=rates, rtol=rtol, atol=rtol * 1e-2, n_save=20,
                          record=_record_joint)
        t = run.trajectory
        assert t.status_names() == ["target"] and t.length[0] == 20
        us, vs, g = t.valid("u"), t.valid("v"), t.valid("g")
        assert np.exp(t.valid("log_loss")[-1]) < 1e-6  # both problems are solved ...
        assert abs(g[-1] - g0) > 0.05  # ... and g travels: the invariant is not kept trivially
        d = np.stack([imbalance(p, q, rs) for p, q in zip(us, vs, strict=True)])
        drifts["imbalance"][rtol] = (np.max(np.linalg.norm(d - d[0], axis=(1, 2)))
                                     / np.linalg.norm(d[0]))
        invariant = wn_invariant(g, t.valid("w"), projector, c)
        drifts["wn_invariant"][rtol] = np.max(np.abs(invariant / invariant[0] - 1))
    for name, by_rtol in drifts.items():  # the drift is the solver's error:
        for rtol, drift in by_rtol.items():  # within a small multiple of rtol ...
            assert drift < 100 * rtol, (name, by_rtol)
        loose, tight = (by_rtol[rtol] for rtol in TOLERANCES)
        assert tight < loose / 100, (name, by_rtol)  # ... and it shrinks as rtol does
