"""Models as pure functions of their weights, with neuron groups and homogeneity degree.

- ``model.py``: the :class:`Model` dataclass and the activations (``ACTIVATIONS``, with their
  homogeneity degrees in ``ACTIVATION_DEGREE``).
- ``mlp.py``: bias-free MLPs (:func:`mlp`).
- ``linear.py``: :func:`coordinate_linear` (one neuron per coordinate), :func:`deep_linear`
  and :func:`matrix_factorization` (Min et al.'s U V^T / sqrt(m h)).

Planned, one file each: diagonal linear networks (``diagonal.py``, the pairs ``(u_i, v_i)`` of
Chou, Rauhut & Ward, for the ``polar`` parameterization) and a small CNN (``cnn.py``, whose
filters ``(in_ch, k, k)`` are neurons, as ``reparam`` already allows).
"""

from .linear import coordinate_linear, deep_linear, matrix_factorization
from .mlp import mlp
from .model import ACTIVATION_DEGREE, ACTIVATIONS, Model

__all__ = ["ACTIVATIONS", "ACTIVATION_DEGREE", "Model", "coordinate_linear", "deep_linear",
           "matrix_factorization", "mlp"]
