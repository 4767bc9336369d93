"""Gradient flow, integrated with diffrax, in the physical clock t or the log-loss clock.

The flow is d theta/dt = -P grad L(theta) with an optional preconditioner P (identity for
plain gradient flow in any parameterization). Since grad L = L grad(log L), with
g = grad(log L), the same path can be integrated in two clocks. As in diffrax, where solvers,
step-size controllers and events are objects, a clock is an object passed to ``run_flow``:

- :class:`TimeClock`: integrate in t, d theta/dt = -L P g. Use it for a fixed horizon.
- :class:`LogLossClock`: integrate in lambda = -log L, which increases strictly along the flow
  (d lambda/dt = L <g, P g>). Classification flows need t ~ 1/L to reach the asymptotic regime
  (t ~ e^300 at log-loss -300); in lambda the same path is a bounded interval integrated in a
  bounded number of solver steps, and t is carried along so both clocks are reported.

Each clock owns what differs between the two: its checks against the initial log-loss, the
vector field, the integration interval, the save grid, the stopping event, the saved values and
what the event means for the status. The trajectory is saved on the clock's grid (uniform in
log-loss, or log-spaced in t) through ``record(theta)``, so memory does not grow with the
parameter count times the grid.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import WnbiasWarning
from ..programs import FAST_COMPILING, call, fingerprint_of, one_seed
from ..progress import Phase
from .trajectory import STATUS_NAMES, Run, Status, Trajectory

# Largest relative gap allowed between the log-loss clock -lambda and the true log L(theta).
CLOCK_TOLERANCE = 1e-4

State = dict[str, Any]  # {"theta": the parameters, "u": log(1 + t) in the log-loss clock}
Field = Callable[[Any, State, Any], State]
Observe = Callable[[Any, State, Any], dict[str, jax.Array]]


def _dot(a, b) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _function_evaluations(solver, steps: int) -> int | None:
    tableau = getattr(solver, "tableau", None)
    if tableau is None or tableau.implicit:
        return None
    return 1 + steps * (tableau.num_stages - int(tableau.fsal))


@dataclass(frozen=True)
class Clock(ABC):
    """The clock ``run_flow`` integrates in: subclass it as :class:`LogLossClock` and
    :class:`TimeClock` do.

    ``log_loss(theta, *data)`` is the objective, ``value_and_grad`` its
    ``jax.value_and_grad``, ``precondition(theta, g, args)`` returns P g (``args``: the
    solve's per-seed rates) and ``record(theta)`` the
    extra values to save. ``event_status`` is the status of a solve that stopped on the
    clock's event; ``checks_drift`` says whether the saved values carry ``clock_log_loss``, to
    be checked against the true log-loss (``CLOCK_TOLERANCE``).

    A clock is a static argument of the compiled solve, so it must be hashable and compare by
    value (a frozen dataclass does): equal clocks share one program (as do clocks whose
    :meth:`in_program` are equal). ``vector_field``, ``event`` and ``observe`` are called on
    :meth:`in_program` while that program is traced, with ``data`` as traced arrays.
    """

    event_status: ClassVar[Status]
    checks_drift: ClassVar[bool]

    @abstractmethod
    def validate(self, log_loss0: float) -> None:
        """Raise ValueError if the clock cannot run from the initial log-loss ``log_loss0``."""

    @abstractmethod
    def vector_field(self, log_loss, value_and_grad, precondition, data) -> Field:
        """The vector field of the state {theta, u} in the clock's variable."""

    @abstractmethod
    def interval(self, log_loss0: float) -> tuple[float, float]:
        """The integration interval (s0, s1) in the clock's variable."""

    @abstractmethod
    def save_grid(self, log_loss0: float, n_save: int) -> np.ndarray:
        """The ``n_save - 1`` save points before the end (the end is saved with the solve)."""

    @abstractmethod
    def event(self, log_loss, data) -> diffrax.Event:
        """The diffrax Event that stops the solve early."""

    @abstractmethod
    def observe(self, log_loss, data, record) -> Observe:
        """The values saved at each grid point: ``t``, ``log1p_t``, ``log_loss`` and ``record``."""

    def in_program(self) -> Clock:
        """The clock the compiled solve is keyed by and traces: this one with the fields that
        only the host uses (checks, interval, save grid: traced data) set to a fixed value, so
        that clocks differing only there share one program. Default: the clock itself."""
        return self


@dataclass(frozen=True)
class LogLossClock(Clock):
    """Integrate in lambda = -log L from the initial log-loss to ``target_log_loss``; stop
    early (status ``time_budget``) when t exceeds ``t_max``.

    Along the flow d lambda/dt = L <g, P g>, so d theta/d lambda = -P g/<g, P g> and
    dt/d lambda = 1/(L <g, P g>). t is carried along as u = log(1 + t),
    du/dlambda = e^(lambda - u)/<g, P g>, which stays O(1) while t grows like e^lambda (t itself
    overflows float64 beyond log-loss -709, u does not). The save grid is uniform in log-loss.
    The true log L(theta) is saved beside the clock -lambda (``clock_log_loss``): their gap is
    the integration error, and a gap above ``CLOCK_TOLERANCE`` is a solver failure.
    """

    target_log_loss: float
    t_max: float = np.inf

    event_status: ClassVar[Status] = Status.TIME_BUDGET
    checks_drift: ClassVar[bool] = True

    def validate(self, log_loss0: float) -> None:
        if self.target_log_loss is None or not self.target_log_loss < log_loss0:
            raise ValueError(
                f"LogLossClock needs target_log_loss below the initial log-loss {log_loss0:.4g}"
                f" (got {self.target_log_loss})"
            )

    def vector_field(self, log_loss, value_and_grad, precondition, data) -> Field:
        def field(lam, state, args):
            value, g = value_and_grad(state["theta"], *data)
            pg = precondition(state["theta"], g, args)
            speed = _dot(g, pg)
            return {"theta": jax.tree.map(lambda v: -v / speed, pg),
                    "u": jnp.exp(-value - state["u"]) / speed}

        return field

    def interval(self, log_loss0: float) -> tuple[float, float]:
        return -log_loss0, -self.target_log_loss

    def save_grid(self, log_loss0: float, n_save: int) -> np.ndarray:
        s0, s1 = self.interval(log_loss0)
        return np.linspace(s0, s1, n_save)[:-1]  # the end is saved by t1

    def event(self, log_loss, data) -> diffrax.Event:
        u_max = np.log1p(self.t_max)  # compare in u: t itself overflows past log-loss -709
        return diffrax.Event(lambda lam, state, args, **kw: state["u"] >= u_max)

    def observe(self, log_loss, data, record) -> Observe:
        def observe(lam, state, args):
            # the true log L(theta), not the clock -lambda: their gap is the integration error
            return {"t": jnp.expm1(state["u"]), "log1p_t": state["u"], "clock_log_loss": -lam,
                    "log_loss": log_loss(state["theta"], *data), **record(state["theta"])}

        return observe

    def in_program(self) -> LogLossClock:
        return replace(self, target_log_loss=-np.inf)  # the target is the interval's end


@dataclass(frozen=True)
class TimeClock(Clock):
    """Integrate in the physical time t from 0 to ``t_end`` (d theta/dt = -L P g); stop early
    (status ``target``, as at ``t_end``) at ``target_log_loss`` if given.

    Use it for a fixed horizon. The save grid is t = 0 and then log-spaced from ``t_end * 1e-4``.
    """

    t_end: float
    target_log_loss: float | None = None

    event_status: ClassVar[Status] = Status.TARGET
    checks_drift: ClassVar[bool] = False

    def validate(self, log_loss0: float) -> None:
        if self.t_end is None or not self.t_end > 0:
            raise ValueError(f"TimeClock needs a positive t_end (got {self.t_end})")

    def vector_field(self, log_loss, value_and_grad, precondition, data) -> Field:
        def field(t, state, args):
            value, g = value_and_grad(state["theta"], *data)
            return {"theta": jax.tree.map(lambda v: -jnp.exp(value) * v,
                                          precondition(state["theta"], g, args)),
                    "u": jnp.zeros_like(t)}

        return field

    def interval(self, log_loss0: float) -> tuple[float, float]:
        return 0.0, float(self.t_end)

    def save_grid(self, log_loss0: float, n_save: int) -> np.ndarray:
        t_end = self.t_end
        return np.concatenate([[0.0], np.geomspace(t_end * 1e-4, t_end, n_save - 1)[:-1]])

    def event(self, log_loss, data) -> diffrax.Event:
        stop = -np.inf if self.target_log_loss is None else self.target_log_loss
        return diffrax.Event(
            lambda t, state, args, **kw: log_loss(state["theta"], *data) <= stop
        )

    def observe(self, log_loss, data, record) -> Observe:
        def observe(t, state, args):
            return {"t": t, "log1p_t": jnp.log1p(t), "log_loss": log_loss(state["theta"], *data),
                    **record(state["theta"])}

        return observe

    def in_program(self) -> TimeClock:
        return replace(self, t_end=np.inf)  # t_end is the interval's end and sets the grid


def run_flow(
    log_loss: Callable[..., jax.Array],
    theta0,
    data: tuple,
    clock: Clock,
    *,
    preconditioner: Callable[[Any, Any], Any] | None = None,
    rates=None,
    batched: bool = False,
    solver=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    n_save: int = 200,
    record: Callable[[Any], dict[str, jax.Array]] | None = None,
    progress: bool = False,
    label: str = "",
) -> Run:
    """Integrate the gradient flow of ``log_loss(theta, *data)`` from ``theta0`` in ``clock``.

    ``clock`` is a :class:`LogLossClock` (to a target log-loss, stopping early at a time budget)
    or a :class:`TimeClock` (to a horizon, stopping early at an optional target log-loss).
    ``preconditioner(theta, g)`` returns P g. ``rates``, a pytree of the same structure as
    theta with scalar leaves, multiplies each leaf's P g: the flow of GD with a rate per leaf
    (Wu et al.'s dg/dt = -c dL/dg beside dw/dt = -dL/dw). With ``batched=True``, ``theta0`` and
    ``rates`` have a leading seed axis and every seed is solved in one compiled program under
    ``vmap``, each with its own adaptive steps (the rates are data, not constants: one
    compilation for a whole sweep of them).

    Returns a :class:`~wnbias.dynamics.trajectory.Run`: the trajectory has ``t``, ``log1p_t``
    (log(1 + t), finite where t overflows float64 beyond log-loss -709), ``log_loss`` and the
    ``record`` keys on the clock's grid points reached, then the final state; its status is
    ``target``, ``time_budget`` (t reached ``t_max``) or ``solver_failure`` (``message`` says
    where and what to change; this includes a log-loss clock that drifted from the true log L
    by more than ``CLOCK_TOLERANCE``); its counts are the solver's steps and
    ``function_evaluations`` from the Butcher tableau (each one value_and_grad; -1 for implicit
    solvers) and the final ``time``. The final theta has a leading seed axis (of 1 unbatched).

    The flow integrates in float64 whatever the start's precision: diffrax promotes theta to
    the precision of its time variable, and the default tolerances are below float32's
    resolution. A float32 start gets a :class:`~wnbias.errors.WnbiasWarning` saying so (the
    run's report lists it).

    Compiled code is reused across calls with the same ``log_loss``, ``preconditioner`` and
    ``record`` objects, equal clocks and solvers (both compare by value), the same tolerances,
    ``max_steps`` and shapes: the data are traced arguments, not constants of the program.
    """
    if any(jnp.result_type(a) == jnp.float32 for a in jax.tree.leaves(theta0)):
        warnings.warn("the gradient flow integrates in float64 (diffrax promotes a float32 start "
                      "to the precision of its time variable); GD runs stay in float32",
                      WnbiasWarning, stacklevel=2)
    if not isinstance(clock, Clock):
        raise ValueError(f"unknown clock {clock!r}; allowed: LogLossClock(target_log_loss=...), "
                         "TimeClock(t_end=...)")
    solver = solver or diffrax.Tsit5()
    if not batched:
        theta0, rates = jax.tree.map(lambda a: np.asarray(a)[None], (theta0, rates))
    log_losses0 = np.asarray(call(_log_losses, (theta0, data), {"log_loss": log_loss}),
                              dtype=float)
    if not np.all(np.isfinite(log_losses0)):
        raise ValueError(f"the initial log-loss is {log_losses0}; the flow cannot start")
    for value in log_losses0:
        clock.validate(float(value))

    intervals = np.asarray([clock.interval(float(v)) for v in log_losses0])
    grids = np.stack([clock.save_grid(float(v), n_save) for v in log_losses0])
    phase = Phase(label, "flow", enabled=progress)
    args = (theta0, jnp.asarray(intervals[:, 0]), jnp.asarray(intervals[:, 1]),
            jnp.asarray(grids), rates, data)
    statics = dict(log_loss=log_loss, clock=clock.in_program(),
                   preconditioner=preconditioner or _unpreconditioned,
                   record=record or _no_record, solver=solver, rtol=float(rtol),
                   atol=float(atol), max_steps=int(max_steps))
    sol = call(_solve, args, statics, lambda: _solve_fingerprint(theta0, data, **statics),
               options=FAST_COMPILING)
    seeds = [_seed_result(jax.tree.map(lambda a, i=i: np.asarray(a)[i], sol), clock, solver)
             for i in range(len(log_losses0))]
    keys = seeds[0][0].keys()
    size = max(len(traj["t"]) for traj, *_ in seeds)
    series = {k: np.stack([_pad(traj[k], size) for traj, *_ in seeds]) for k in keys}
    phase.finish(f"{len(seeds)} seed(s), {int(np.median([c['solver_steps'] for *_, c in seeds]))}"
                 " solver steps (median), " + ", ".join(sorted({STATUS_NAMES[st] for _, st, *_
                                                               in seeds})))
    return Run(
        theta=jax.tree.map(lambda a: np.asarray(a)[:, 0], sol["ys"][2]["theta"]),
        trajectory=Trajectory(
            series=series, length=np.asarray([len(traj["t"]) for traj, *_ in seeds]),
            status=np.asarray([status for _, status, *_ in seeds]),
            counts={k: np.asarray([c[k] for *_, c in seeds]) for k in seeds[0][3]},
            message="; ".join(f"seed {i}: {m}" if len(seeds) > 1 else m
                              for i, (_, _, m, _) in enumerate(seeds) if m)),
    )


@partial(jax.jit, static_argnames="log_loss")
def _log_losses(theta, data, *, log_loss):
    """log L of each start, as one program (op by op, a program per operation and shape)."""
    return jax.vmap(lambda th: log_loss(th, *data))(theta)


def _unpreconditioned(theta, g):
    return g


def _no_record(theta) -> dict:
    return {}


@partial(jax.jit, static_argnames=("log_loss", "clock", "preconditioner", "record", "solver",
                                   "rtol", "atol", "max_steps"))
def _solve(theta0, s0, s1, grids, rates, data, *, log_loss, clock, preconditioner, record, solver,
           rtol, atol, max_steps):
    """Every seed's diffeqsolve as one program: under ``vmap``, or plainly for one seed (half
    the tracing: batching diffrax's loops traces their bodies again). Returns the solution's
    ``ts``, ``ys``, ``stats`` and ``result`` code as a dict (a tree every process can rebuild).

    Module-level, with the data as a traced argument, so that the compiled program is keyed by
    its static arguments alone: the objective, the clock and the solver (frozen dataclasses and
    equinox modules compare by value), the preconditioner and record (by identity) and the
    tolerances; across processes, by :func:`_solve_fingerprint`. The vector field, event and
    saved values are built from them here, inside the trace. ``ForwardMode``: nothing
    differentiates through the solve, so diffrax's plain loops serve (no checkpointing).
    """
    value_and_grad = jax.value_and_grad(log_loss)

    def precondition(theta, g, leaf_rates):
        pg = preconditioner(theta, g)
        return pg if leaf_rates is None else jax.tree.map(jnp.multiply, leaf_rates, pg)

    field = clock.vector_field(log_loss, value_and_grad, precondition, data)
    event = clock.event(log_loss, data)
    observe = clock.observe(log_loss, data, record)

    def solve_one(theta, s0, s1, grid, leaf_rates):
        saveat = diffrax.SaveAt(subs=[
            diffrax.SubSaveAt(ts=grid, fn=observe),
            diffrax.SubSaveAt(t1=True, fn=observe),
            diffrax.SubSaveAt(t1=True),
        ])
        return diffrax.diffeqsolve(
            diffrax.ODETerm(field), solver, s0, s1, None, {"theta": theta, "u": jnp.zeros(())},
            args=leaf_rates, saveat=saveat,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), event=event,
            max_steps=max_steps, throw=False, adjoint=diffrax.ForwardMode(),
        )

    def solve(*args):
        sol = solve_one(*args)
        return {"ts": sol.ts, "ys": sol.ys, "stats": sol.stats,
                "result": jax.tree.leaves(sol.result)[0]}

    per_seed = (theta0, s0, s1, grids, rates)
    if s0.shape[0] == 1:
        one = solve(*jax.tree.map(lambda a: a[0], per_seed))
        return jax.tree.map(lambda a: jnp.asarray(a)[None], one)
    return jax.vmap(solve)(*per_seed)


def _solve_fingerprint(theta0, data, *, log_loss, clock, preconditioner, record, solver, rtol,
                       atol, max_steps) -> tuple[str, ...]:
    """What determines :func:`_solve`'s program beside its arguments' shapes and this module's
    code: the jaxprs of the objective, preconditioner and record on one seed's parameters, and
    the clock, solver and tolerances by value (see :mod:`wnbias.programs`)."""
    theta = one_seed(theta0)
    return (fingerprint_of(log_loss, theta, *data), fingerprint_of(preconditioner, theta, theta),
            fingerprint_of(record, theta), repr((clock, solver, rtol, atol, max_steps)))


def _pad(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` along its first axis to ``size`` slots, NaN beyond its length."""
    out = np.full((size, *values.shape[1:]), np.nan)
    out[: len(values)] = values
    return out


def _seed_result(sol, clock: Clock, solver) -> tuple[dict, Status, str, dict]:
    """One seed's (trajectory, status, message, counts) from its slice of the solution."""
    on_grid, final, _ = sol["ys"]
    reached = np.isfinite(np.asarray(sol["ts"][0]))
    trajectory = {
        k: np.concatenate([np.asarray(v)[reached], np.asarray(final[k])])
        for k, v in on_grid.items()
    }
    stats = {k: int(v) for k, v in sol["stats"].items() if k != "max_steps"}
    steps = stats["num_steps"]
    result = jax.tree.unflatten(jax.tree.structure(diffrax.RESULTS.successful), [sol["result"]])
    drift = (np.max(np.abs(trajectory["log_loss"] - trajectory["clock_log_loss"]))
             if clock.checks_drift else 0.0)
    if drift > CLOCK_TOLERANCE * max(1.0, abs(float(trajectory["log_loss"][-1]))):
        status = Status.SOLVER_FAILURE
        message = (
            f"the log-loss clock drifted from the true log-loss by {drift:.3g} (at t = "
            f"{trajectory['t'][-1]:.4g}, log-loss {trajectory['log_loss'][-1]:.4g}); tighten "
            "rtol/atol"
        )
    elif result == diffrax.RESULTS.successful:
        status, message = Status.TARGET, ""
    elif result == diffrax.RESULTS.event_occurred:
        status, message = clock.event_status, ""
    else:
        status = Status.SOLVER_FAILURE
        message = (
            f"gradient flow stopped at t = {trajectory['t'][-1]:.4g}, log-loss "
            f"{trajectory['log_loss'][-1]:.4g} after {steps} solver steps "
            f"({diffrax.RESULTS[result]}); raise max_steps, loosen rtol/atol, or try a "
            "stiff solver (kvaerno5)"
        )
    nfe = _function_evaluations(solver, steps)
    counts = {"solver_steps": steps, "accepted_steps": stats["num_accepted_steps"],
              "rejected_steps": stats["num_rejected_steps"],
              "function_evaluations": -1 if nfe is None else nfe,
              "time": float(trajectory["t"][-1])}
    return trajectory, status, message, counts
