"""The training objective: model + parameterization + loss, as one pure log L(theta, x, y)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp

from .losses import Loss
from .models import Model
from .reparam import Spec, decode, encode, retract


@dataclass(frozen=True, eq=False)  # hashes by identity: a static argument of jitted functions
class Objective:
    """``log L(theta, x, y)`` with L the loss of ``model`` at the weights decoded by ``spec``.

    theta are the parameters (``reparam``'s per-layer dicts), w = decode(theta) the unnormalized
    weights, f = model(w, x) the predictor and log L = log sum_i l(f_i, y_i) (or the mean, by
    the loss's reduction). Every method is a plain function of theta, so ``jax.grad`` and
    ``jax.hessian`` of :meth:`loss` or :meth:`predict` need no special path.

    ``terms`` gives the per-example log l_i: GD compares a new loss with the old one through
    them (``log(L_new / L_old)`` from shifted terms), which resolves relative changes that the
    rounded totals cannot: in float32 near log-loss -300 the total's spacing is about 3e-5.

    The loss object is the field ``criterion`` (the third constructor argument), because the
    name ``loss`` is the method giving L itself.
    """

    model: Model
    spec: Spec
    criterion: Loss

    def weights(self, theta) -> dict[str, Array]:
        """w = decode(theta): the unnormalized weights of every trainable layer."""
        return decode(theta, self.spec)

    def predict(self, theta, x: Array) -> Array:
        """f(theta, x) = model(decode(theta), x)."""
        return self.model.apply(self.weights(theta), x)

    def terms(self, theta, x: Array, y: Array) -> Array:
        """log l_i, one per example."""
        return self.criterion.log_per_example(self.predict(theta, x), y)

    def value_and_terms(self, theta, x: Array, y: Array) -> tuple[Array, Array]:
        """(log L, log l_i) from one evaluation of f."""
        return self.criterion.log_total_and_terms(self.predict(theta, x), y)

    def __call__(self, theta, x: Array, y: Array) -> Array:
        """log L."""
        return self.criterion.log_total(self.predict(theta, x), y)

    def loss(self, theta, x: Array, y: Array) -> Array:
        """L = exp(log L) itself (underflows to 0 below log L ~ -745 in float64)."""
        return jnp.exp(self(theta, x, y))

    def encode(self, weights: Mapping[str, Array]) -> dict[str, dict[str, Array]]:
        """The parameters theta of ``weights`` under ``spec`` (see ``reparam.encode``)."""
        return encode(weights, self.spec)

    def retract(self, theta) -> dict[str, dict[str, Array]]:
        """theta mapped onto the spec's constraint set; the GD engine applies it after each
        step (rPGD renormalizes v, the identity elsewhere)."""
        return retract(theta, self.spec)


def make_log_loss(model: Model, spec: Spec, loss: Loss) -> Objective:
    """The :class:`Objective` ``log L(theta, x, y)`` of ``model`` under ``spec`` and ``loss``."""
    return Objective(model, spec, loss)


@dataclass(frozen=True, eq=False)
class TermsObjective:
    """A hand-made objective from per-example log-losses: log L = logsumexp_i terms(...)_i.

    For callers without a model (tests, toy problems): it has what the GD engine uses of an
    :class:`Objective`, ``__call__``, ``terms`` and ``value_and_terms``, and hashes by identity.
    """

    terms: Callable[..., Array]

    def value_and_terms(self, theta, *data) -> tuple[Array, Array]:
        terms = self.terms(theta, *data)
        return logsumexp(terms), terms

    def __call__(self, theta, *data) -> Array:
        return logsumexp(self.terms(theta, *data))


def from_terms(terms: Callable[..., Array]) -> TermsObjective:
    """An objective ``theta, *data -> logsumexp(terms(theta, *data))`` for the GD engine."""
    return TermsObjective(terms)
