"""Models as pure functions of their weights, with neuron groups and homogeneity degree.

- ``model.py``: the :class:`Model` dataclass and the activations (``ACTIVATIONS``, with their
  homogeneity degrees in ``ACTIVATION_DEGREE``).
- ``mlp.py``: bias-free MLPs (:func:`mlp`).
- ``linear.py``: :func:`coordinate_linear` (one neuron per coordinate), :func:`deep_linear`
  and :func:`matrix_factorization` (Min et al.'s U V^T / sqrt(m h)).

- ``diagonal.py``: diagonal linear networks x = u^L - v^L or u * v (:func:`diagonal_linear`), in
  the per-pair layout (for the ``polar`` parameterization) or the per-vector one.

Planned: a small CNN (``cnn.py``, whose filters ``(in_ch, k, k)`` are neurons, as ``reparam``
already allows).
"""

from .diagonal import alpha_init, diagonal_linear, diagonal_vector
from .linear import coordinate_linear, deep_linear, matrix_factorization
from .mlp import mlp
from .model import ACTIVATION_DEGREE, ACTIVATIONS, Model

__all__ = ["ACTIVATIONS", "ACTIVATION_DEGREE", "Model", "alpha_init", "coordinate_linear",
           "deep_linear", "diagonal_linear", "diagonal_vector",
           "matrix_factorization", "mlp"]
