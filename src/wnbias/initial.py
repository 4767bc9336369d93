"""Initial weights: seeded JAX draws, PyTorch's ``nn.Linear`` default bit for bit, or a file.

- ``jax``: ``Model.init`` from ``jax.random`` keys (U(-1/sqrt(fan_in), 1/sqrt(fan_in))), drawn in
  float64 and cast, so that float32 and float64 runs start from the same weights.
- ``torch``: the weights PyTorch gives ``nn.Linear(fan_in, fan_out, bias=False)`` layers created
  in layer order right after ``torch.manual_seed(seed)`` (PAPERS.md §1.6, the EWN authors'
  scripts), computed in NumPy without PyTorch: kaiming-uniform with a = sqrt(5), i.e.
  U(-b, b) with b = 1/sqrt(fan_in) as torch computes it in double, from torch's CPU
  Mersenne-Twister stream (one 32-bit draw per float32 weight, its low 24 bits times 2^-24 = x,
  then x (b - (-b)) + (-b) rounded once to float32, as torch's fused multiply-add kernels do).
  NumPy's legacy ``RandomState(seed)`` is the same MT19937 with the same seeding. Several seeds
  use torch seeds ``seed, seed + 1, ...``. The draws are float32 (as the authors ran); a
  float64 run starts from the same float32 values.
- a file (``init_from=PATH.npz``): see :func:`load_initial_parameters`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError
from .names import INIT_SCHEMES

if TYPE_CHECKING:
    from .reparam import Reparam

_MASK24 = np.uint32((1 << 24) - 1)


def _torch_uniform_bound(fan_in: int) -> float:
    """kaiming_uniform_(a=sqrt(5)) on a (fan_out, fan_in) weight, in torch's double arithmetic."""
    a = math.sqrt(5)
    gain = math.sqrt(2.0 / (1 + a**2))
    return math.sqrt(3.0) * (gain / math.sqrt(fan_in))


def torch_linear_weights(layer_shapes: Mapping[str, tuple[int, ...]], seed: int) -> dict:
    """float32 weights of ``nn.Linear(fan_in, n, bias=False)`` per layer ``(n, fan_in)``, created
    in order after ``torch.manual_seed(seed)`` (torch keeps the seed's low 32 bits)."""
    for layer, shape in layer_shapes.items():
        if len(shape) != 2:
            raise ConfigError(f"init=torch draws nn.Linear weights (n_neurons, fan_in); layer "
                              f"{layer!r} has shape {tuple(shape)}; use init=jax")
    stream = np.random.RandomState(seed % 2**32)
    weights = {}
    for layer, (n, fan_in) in layer_shapes.items():
        raw = stream.randint(0, 2**32, size=n * fan_in, dtype=np.uint32)
        x = (raw & _MASK24).astype(np.float64) * 2.0**-24
        low = np.float32(-_torch_uniform_bound(fan_in))
        high = np.float32(_torch_uniform_bound(fan_in))
        # exact in float64 (24-bit x times a 24-bit width), then one rounding: torch's FMA
        values = x * np.float64(high - low) + np.float64(low)
        weights[layer] = values.astype(np.float32).reshape(n, fan_in)
    return weights


def seeded_weights(model, scheme: str, seed: int, n_seeds: int, dtype: str) -> dict:
    """``{layer: (n_seeds, n, fan_in)}`` in ``dtype`` for ``scheme`` in :data:`INIT_SCHEMES`.

    ``jax`` uses ``n_seeds`` keys split from ``PRNGKey(seed)``; ``torch`` torch seeds
    ``seed + i``.
    """
    import jax
    import jax.numpy as jnp

    if scheme == "torch":
        draws = [torch_linear_weights(model.layer_shapes, seed + i) for i in range(n_seeds)]
        return {k: jnp.asarray(np.stack([d[k] for d in draws]), dtype) for k in draws[0]}
    if scheme != "jax":
        raise ConfigError(f"unknown init {scheme!r}; allowed: {', '.join(INIT_SCHEMES)}")
    keys = jax.random.split(jax.random.PRNGKey(seed), n_seeds)
    weights = jax.vmap(lambda k: model.init(k, dtype=jnp.float64))(keys)
    return {k: w.astype(dtype) for k, w in weights.items()}


def _param_shapes(reparam: Reparam, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """The shape of each of ``reparam``'s parameters for a layer of weights ``shape``."""
    import jax

    out = jax.eval_shape(reparam.encode, jax.ShapeDtypeStruct(tuple(shape), np.float64))
    return {p: tuple(v.shape) for p, v in out.items()}


def load_initial_parameters(
    path: str | Path, layer_shapes: Mapping[str, tuple[int, int]],
    arms: Mapping[str, Reparam], dtype: str = "float64",
) -> tuple[dict, int]:
    """Every arm's initial parameters from ``path`` (``init_from=PATH.npz``).

    Keys, from the most to the least specific, per arm and layer:

    - ``<arm>/<layer>/<param>``: the parameterization's own parameters (``ewn/layer2/a`` and
      ``ewn/layer2/v``, ``swn/layer1/g`` and ``swn/layer1/v``, ``plain/layer1/w``), so a
      direction that is not unit-norm can be given;
    - ``<arm>/<layer>``: unnormalized weights ``(n_neurons, fan_in)`` for one arm;
    - ``<layer>``: unnormalized weights shared by every arm (the layout of ``nn.Linear.weight``).

    Unnormalized weights are encoded with unit directions. A leading axis on every array gives
    several seeds. Returns ``({arm: theta with a leading seed axis}, n_seeds)``; a missing,
    unknown or ill-shaped key raises :class:`ConfigError` naming it.
    """
    import jax
    import jax.numpy as jnp

    where = f"init_from={path}"
    arrays = read_npz(path, where)
    allowed = list(layer_shapes)
    for arm, reparam in arms.items():
        for layer, shape in layer_shapes.items():
            allowed += [f"{arm}/{layer}"] + [f"{arm}/{layer}/{p}"
                                             for p in _param_shapes(reparam, shape)]
    unknown = sorted(set(arrays) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")

    seed_axes: dict[str, int | None] = {}

    def take(key: str, shape: tuple[int, ...]) -> np.ndarray:
        value = arrays[key]
        if value.shape == tuple(shape):
            seed_axes[key] = None
        elif value.ndim == len(shape) + 1 and value.shape[1:] == tuple(shape) and len(value):
            seed_axes[key] = value.shape[0]
        else:
            raise ConfigError(f"{where}: {key!r} has shape {value.shape}; expected "
                              f"{tuple(shape)} or (seeds, {', '.join(map(str, shape))})")
        if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
            raise ConfigError(f"{where}: {key!r} must hold finite floating-point numbers")
        return value

    raw: dict[str, dict[str, tuple[str, dict[str, np.ndarray]]]] = {}
    for arm, reparam in arms.items():
        raw[arm] = {}
        for layer, shape in layer_shapes.items():
            params = _param_shapes(reparam, shape)
            own = [f"{arm}/{layer}/{p}" for p in params]
            given = [k for k in own if k in arrays]
            if given and len(given) < len(own):
                raise ConfigError(f"{where}: {', '.join(given)} needs "
                                  f"{', '.join(k for k in own if k not in arrays)} too")
            if given:
                raw[arm][layer] = ("params", {p: take(k, params[p])
                                              for p, k in zip(params, own, strict=True)})
            else:
                key = next((k for k in (f"{arm}/{layer}", layer) if k in arrays), None)
                if key is None:
                    raise ConfigError(
                        f"{where}: no initial weights for {arm}/{layer}; give {layer!r} (shape "
                        f"{tuple(shape)}), {arm}/{layer!r} or {' and '.join(map(repr, own))}")
                raw[arm][layer] = ("weights", {"w": take(key, shape)})

    counts = {c for c in seed_axes.values()}
    if len(counts) > 1:
        raise ConfigError(f"{where}: every array needs the same leading seed axis, or none; "
                          f"found {', '.join(f'{k} {arrays[k].shape}' for k in seed_axes)}")
    n_seeds = counts.pop() or 1

    def batched(a: np.ndarray, core: int) -> jax.Array:
        a = jnp.asarray(a, dtype)
        return a if a.ndim > core else a[None]

    thetas = {}
    for arm, reparam in arms.items():
        theta = {}
        for layer, (kind, values) in raw[arm].items():
            if kind == "params":
                theta[layer] = {p: batched(v, len(_param_shapes(reparam, layer_shapes[layer])[p]))
                                for p, v in values.items()}
            else:
                theta[layer] = jax.vmap(reparam.encode)(batched(values["w"], 2))
        thetas[arm] = theta
    return thetas, n_seeds


def read_npz(path: str | Path, where: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, or a :class:`ConfigError` saying why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{where}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as error:  # zipfile, pickle and format errors alike
        raise ConfigError(f"{where} is not a readable .npz file ({type(error).__name__})") from None


def save_initial_parameters(path: str | Path, thetas: Mapping[str, Mapping]) -> None:
    """Write ``{arm: {layer: {param: (seeds, ...)}}}`` as ``<arm>/<layer>/<param>`` keys, the
    most specific format :func:`load_initial_parameters` reads."""
    from .store import write_npz

    write_npz(Path(path), {f"{arm}/{layer}/{p}": np.asarray(v)
                           for arm, theta in thetas.items()
                           for layer, params in theta.items() for p, v in params.items()})
