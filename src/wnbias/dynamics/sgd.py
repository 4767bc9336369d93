"""Gradient descent on a mean loss by epochs, full batch or minibatch, as one jitted ``lax.scan``.

Cisneros-Velarde, Chen, Koyejo & Banerjee's two optimizers (PAPERS.md §3.5):

- full batch (``batch_size=None``): one step per epoch, theta <- theta - lr grad L(theta), L the
  mean loss over all of ``data``. The authors' code sums the gradients of the floor(N/512) batch
  means of an epoch into one step: that is this rule with lr = 0.001 floor(N/512) on the
  examples of those batches (``as_run``);
- minibatch SGD (``batch_size=B``): each epoch a permutation drawn from ``fold_in(key, epoch)``,
  floor(N/B) steps on the batch means, the remainder of the permutation unused (``as_written``).

Unlike ``run_gd`` there is no log-loss bookkeeping: L is an O(1) mean squared error here, and a
step is a plain gradient step on it. Seeds run together under ``vmap`` (theta0 and the keys with
a leading seed axis); the learning rate and the first epoch are data, so segments of one length
and any rate share one compiled program.

Recorded at theta_0 .. theta_epochs: ``loss`` (L on all of ``data``), the entries of
``loss_fn``'s aux (e.g. the accuracy) and of ``record(theta, x, y)``, and ``log_loss`` =
log L. A non-finite loss or step keeps the seed at its last finite parameters (status
``nonfinite``; its later slots repeat them).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..programs import call, fingerprint_of, one_seed
from .gd import _finite
from .trajectory import Run, Status, Trajectory


def _no_record(theta, x, y) -> dict:
    return {}


@partial(jax.jit, static_argnames=("loss_fn", "record", "epochs", "batch_size"))
def _train(theta0, keys, data, lr, epoch0, *, loss_fn, record, epochs, batch_size):
    x, y = data
    n = x.shape[0]
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

    def measure(theta):
        value, aux = loss_fn(theta, x, y)
        return {"loss": value, **aux, **record(theta, x, y)}

    def minibatch_epoch(theta, key):
        batches = jax.random.permutation(key, n)[: (n // batch_size) * batch_size]

        def step(theta, idx):
            grad = jax.grad(lambda th: loss_fn(th, x[idx], y[idx])[0])(theta)
            return jax.tree.map(lambda p, g: p - (lr * g).astype(p.dtype), theta, grad), None

        return jax.lax.scan(step, theta, batches.reshape(-1, batch_size))[0]

    def one(theta0, key):
        def epoch(carry, e):
            theta, alive = carry
            if batch_size is None:  # the step's own loss is theta's record
                (value, aux), grad = value_and_grad(theta, x, y)
                rec = {"loss": value, **aux, **record(theta, x, y)}
                new = jax.tree.map(lambda p, g: p - (lr * g).astype(p.dtype), theta, grad)
            else:
                rec = measure(theta)
                new = minibatch_epoch(theta, jax.random.fold_in(key, epoch0 + e))
            alive_now = alive & jnp.isfinite(rec["loss"]) & _finite(new)
            theta = jax.tree.map(lambda a, b: jnp.where(alive_now, a, b), new, theta)
            return (theta, alive_now), (rec, alive_now)

        (theta, _), (recs, alive) = jax.lax.scan(epoch, (theta0, jnp.asarray(True)),
                                                 jnp.arange(epochs))
        last = measure(theta)
        series = jax.tree.map(lambda r, f: jnp.concatenate([r, f[None]]), recs, last)
        return theta, series, jnp.sum(alive)

    return jax.vmap(one)(theta0, keys)


def _fingerprint(theta0, data, *, loss_fn, record, epochs, batch_size) -> tuple[str, ...]:
    """What determines _train's program besides its source: the jaxprs of ``loss_fn`` on one
    seed, on all the data and on a batch, of ``record``, and the other statics."""
    theta = one_seed(theta0)
    x, y = (jax.ShapeDtypeStruct(a.shape, a.dtype) for a in data)
    batch = tuple(jax.ShapeDtypeStruct((batch_size or a.shape[0], *a.shape[1:]), a.dtype)
                  for a in data)
    return (fingerprint_of(loss_fn, theta, x, y), fingerprint_of(loss_fn, theta, *batch),
            fingerprint_of(record, theta, x, y), repr((epochs, batch_size)))


def run_sgd(
    loss_fn: Callable,
    theta0,
    data: tuple,
    *,
    lr: float,
    epochs: int,
    batch_size: int | None = None,
    key: jax.Array | None = None,
    record: Callable | None = None,
    epoch0: int = 0,
) -> Run:
    """Train every seed of ``theta0`` (leading seed axis) for ``epochs`` epochs.

    ``loss_fn(theta, x, y) -> (L, aux)`` with L the mean loss and aux a dict of scalars;
    ``record(theta, x, y) -> dict`` of scalars (x, y: all of ``data``); ``batch_size`` None
    for full-batch GD, else minibatch SGD with one key per seed (``key`` of shape
    ``(seeds, 2)``, or one key that is split).
    ``epoch0`` offsets the epoch index the permutations are drawn from, so training in segments
    draws the same batches as one call. Use the same ``loss_fn`` and ``record`` objects to
    reuse the compiled program.
    """
    n_seeds = jax.tree.leaves(theta0)[0].shape[0]
    if batch_size is not None:
        if key is None:
            raise ValueError("minibatch SGD needs a key")
        if not 0 < batch_size <= data[0].shape[0]:
            raise ValueError(f"batch_size={batch_size} must be in 1..{data[0].shape[0]}")
    key = jax.random.PRNGKey(0) if key is None else key
    keys = key if jnp.ndim(key) == 2 else jax.random.split(key, n_seeds)
    # lr and epoch0 as Python scalars: weakly typed, as jnp.asarray made them, with no
    # program to convert them; the program is found in the store before it is lowered
    statics = dict(loss_fn=loss_fn, record=record or _no_record, epochs=epochs,
                   batch_size=batch_size)
    theta, series, steps = call(_train, (theta0, keys, data, float(lr), int(epoch0)), statics,
                                lambda: _fingerprint(theta0, data, **statics))
    steps = np.asarray(steps)
    series = {k: np.asarray(v) for k, v in series.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        series["log_loss"] = np.log(series["loss"])  # the field every Run carries
    status = np.where(steps == epochs, Status.BUDGET, Status.NONFINITE)
    per_epoch = 1 if batch_size is None else data[0].shape[0] // batch_size
    return Run(theta, Trajectory(series, steps + 1, status,
                                 counts={"epochs": steps, "steps": steps * per_epoch}))
