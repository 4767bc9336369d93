"""Real data: MNIST from its IDX files and scikit-learn's bundled 8x8 digits.

For the WeightNorm-Hessian experiment of Cisneros-Velarde et al. (and the pruning work after it).

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code byte
(only 0x08, unsigned byte, is read here), a byte with the number of dimensions d, then d
big-endian uint32 sizes, then prod(sizes) data bytes in C order. MNIST's images files have magic
2051 (0x00000803: 3 dims, n x 28 x 28) and its labels files 2049 (0x00000801: 1 dim, n). A file
may be gzipped (recognised by the gzip magic bytes 1f 8b, whatever its name).

MNIST is looked up in ``data_dir``, else in ``$WNBIAS_DATA/mnist``, under the standard names
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte``, each optionally with ``.gz`` (the plain file wins when both exist).

Features: MNIST as the authors preprocess it (torchvision ``Pad(2)``, ``ToTensor``,
``Normalize((0.1307,), (0.3081,))``), flattened to 1024; digits /16, then standardized with the
whole digits set's global mean and std (the library's choice), flattened to 64.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dims
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dim

# split -> (images file, labels file), without the optional ".gz"
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_EXPECTED = ", ".join(f"{name}[.gz]" for pair in MNIST_FILES.values() for name in pair)

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # torchvision's Normalize constants for MNIST
# mean and std of all 1797 digits images / 16 (0.30526..., 0.37605...), fixed like MNIST's so a
# subset's features do not depend on which images it holds
DIGITS_MEAN, DIGITS_STD = 0.3053, 0.3760

DATASETS = ("mnist", "digits")


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic 1f 8b."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from e
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: not a readable gzip file ({e})") from e


def read_idx(path) -> np.ndarray:
    """An IDX file of unsigned bytes (type 0x08), gzipped or not, as a uint8 array of its dims.

    Header: 0x00 0x00, type byte, dims-count byte d, then d big-endian uint32 sizes; the data
    must be exactly prod(sizes) bytes.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise UserError(f"{path}: not an IDX file (expected the first two bytes to be zero)")
    if data[2] != IDX_UBYTE:
        raise UserError(f"{path}: IDX type code 0x{data[2]:02x}, expected 0x08 (unsigned byte)")
    ndim = data[3]
    if ndim == 0:
        raise UserError(f"{path}: IDX header with 0 dimensions, expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated header: expected {header} bytes for {ndim} "
                        f"dimensions, found {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected, found = math.prod(dims), len(data) - header  # Python ints: no overflow
    if found < expected:
        raise UserError(f"{path}: truncated: expected {expected} bytes of data, found {found}")
    if found > expected:
        raise UserError(f"{path}: {found - expected} trailing bytes: expected {expected} bytes "
                        f"of data for dims {dims}, found {found}")
    # copy: frombuffer over bytes is read-only
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def _find(directory: Path, name: str) -> Path | None:
    """``directory/name`` if it exists, else ``directory/name.gz`` if that does, else None."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def mnist_dir(data_dir: str | None = None) -> Path:
    """The MNIST directory: ``data_dir`` if given and non-empty, else ``$WNBIAS_DATA/mnist``.

    It must exist and hold at least one of the four standard files.
    """
    if data_dir:
        directory = Path(data_dir).expanduser()
    elif os.environ.get("WNBIAS_DATA"):
        directory = Path(os.environ["WNBIAS_DATA"]).expanduser() / "mnist"
    else:
        raise UserError(f"no MNIST directory: set data_dir=DIR or $WNBIAS_DATA "
                        f"(files expected: {_EXPECTED})")
    if not directory.is_dir():
        raise UserError(f"MNIST directory {directory} does not exist "
                        f"(files expected: {_EXPECTED})")
    if not any(_find(directory, name) for pair in MNIST_FILES.values() for name in pair):
        raise UserError(f"MNIST directory {directory} holds none of the MNIST files "
                        f"(expected: {_EXPECTED})")
    return directory


def _read_checked(path: Path, magic: int) -> np.ndarray:
    """``read_idx(path)``, refused unless its magic (0x0800 + number of dims) is ``magic``."""
    array = read_idx(path)
    found = (IDX_UBYTE << 8) + array.ndim  # read_idx admits only type 0x08
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise UserError(f"{path}: magic {found} (0x{found:08x}), expected {magic} "
                        f"(0x{magic:08x}) for an MNIST {kind} file")
    return array


def _load_mnist_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split's (images (n, 28, 28), labels (n,)), both uint8, checked against each other."""
    images = _read_checked(images_path, IMAGES_MAGIC)
    if images.shape[1:] != (28, 28):
        raise UserError(f"{images_path}: images of {images.shape[1]}x{images.shape[2]}, "
                        f"expected 28x28")
    labels = _read_checked(labels_path, LABELS_MAGIC)
    if labels.size and labels.max() > 9:
        raise UserError(f"{labels_path}: label {int(labels.max())} found, expected labels 0..9")
    if len(images) != len(labels):
        raise UserError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                        f"{len(labels)} labels: expected equal counts")
    return images, labels


def load_mnist(data_dir: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The MNIST splits present among "train" and "test" (the t10k files) in ``mnist_dir``.

    Each is (images uint8 (n, 28, 28), labels uint8 (n,)); a split needs both its files.
    """
    directory = mnist_dir(data_dir)
    splits = {}
    for split, (images_name, labels_name) in MNIST_FILES.items():
        images_path, labels_path = _find(directory, images_name), _find(directory, labels_name)
        if images_path is None and labels_path is None:
            continue
        if labels_path is None:
            raise UserError(f"{images_path} has no labels file: expected "
                            f"{directory / labels_name}[.gz] beside it")
        if images_path is None:
            raise UserError(f"{labels_path} has no images file: expected "
                            f"{directory / images_name}[.gz] beside it")
        splits[split] = _load_mnist_split(images_path, labels_path)
    return splits


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits: (images float64 (1797, 8, 8), values 0..16; labels
    int64 (1797,), 0..9).

    Read from scikit-learn's own file (``datasets/data/digits.csv.gz``: 64 pixels, then the
    label, per row) as its ``load_digits`` reads it, without importing scikit-learn (1.1 s);
    through ``sklearn.datasets.load_digits`` where that file is not found.
    """
    spec = importlib.util.find_spec("sklearn")  # locates the package without running it
    if spec is None:
        raise UserError("the digits data set needs scikit-learn: pip install scikit-learn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        table = np.loadtxt(path, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def mnist_features(images) -> np.ndarray:
    """The authors' MNIST preprocessing, as float32 (n, 1024).

    Zero-pad 28x28 to 32x32 (2 pixels each side: torchvision ``Pad(2)`` before ``ToTensor``),
    x / 255, then (x - 0.1307) / 0.3081, flattened row-major.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (n, 28, 28), got {images.shape}")
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.float32)
    x = (padded / np.float32(255) - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD)
    return x.reshape(len(images), 32 * 32)


def digits_features(images) -> np.ndarray:
    """Digits features, float32 (n, 64): x / 16, then (x - 0.3053) / 0.3760, flattened.

    The constants are the global mean and std of all 1797 digits / 16 (the library's choice,
    mirroring MNIST's fixed constants): the whole set then has mean ~0 and std ~1.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise ValueError(f"expected images of shape (n, 8, 8), got {images.shape}")
    x = (images.astype(np.float64) / 16 - DIGITS_MEAN) / DIGITS_STD
    return x.reshape(len(images), 64).astype(np.float32)


def one_hot(labels, k: int = 10) -> np.ndarray:
    """Labels 0..k-1 as float32 rows of the k x k identity, shape (n, k)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"expected labels of shape (n,), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in 0..{k - 1}, found {labels.min()}..{labels.max()}")
    return np.eye(k, dtype=np.float32)[labels.astype(np.int64)]


@dataclass(frozen=True)
class Split:
    """A classification data set: features float32 (n, d), labels int64 (n,), and ``source``,
    a sentence for a report saying where the data came from and how it was split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def n_classes(self) -> int:
        """The largest label in train or test, plus one (10 for MNIST and digits unless a tiny
        sample misses the last class)."""
        labels = np.concatenate([self.y_train, self.y_test])
        return int(labels.max()) + 1 if labels.size else 0


def _prefix(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """The first ``count`` (all when 0) of a seeded permutation of range(n)."""
    return rng.permutation(n)[: count or n]


def _check_counts(n_train: int, n_test: int) -> None:
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise UserError(f"{name} must be a non-negative integer (0: all that is left), "
                            f"got {value!r}")


def _split_one(images, labels, n_train: int, n_test: int, seed: int, what: str):
    """Disjoint train (first n_train) and test (next n_test) of one seeded permutation; a count
    of 0 takes all the other one leaves. Returns the four arrays and a phrase for ``source``."""
    n = len(images)
    if n_train == 0 and n_test == 0:
        raise UserError(f"n_train and n_test are both 0 (all that is left): one of them must be "
                        f"set to split the {n} images of {what}")
    if n_train + n_test > n:
        raise UserError(f"n_train + n_test = {n_train} + {n_test} = {n_train + n_test} exceeds "
                        f"the {n} images of {what}")
    n_train = n_train or n - n_test
    n_test = n_test or n - n_train
    perm = np.random.default_rng(seed).permutation(n)
    train, test = perm[:n_train], perm[n_train:n_train + n_test]
    phrase = (f"{what}: {n} images, a seeded permutation (seed {seed}) split into "
              f"{n_train} train / {n_test} test")
    return images[train], labels[train], images[test], labels[test], phrase


def _mnist_split(n_train: int, n_test: int, seed: int, data_dir: str | None):
    directory = mnist_dir(data_dir)
    splits = load_mnist(str(directory))
    if len(splits) == 1:
        [(name, (images, labels))] = splits.items()
        what = "MNIST test files (t10k)" if name == "test" else "MNIST train files"
        return _split_one(images, labels, n_train, n_test, seed, f"{what} in {directory}")
    (tr_images, tr_labels), (te_images, te_labels) = splits["train"], splits["test"]
    for name, count, available in (("n_train", n_train, len(tr_images)),
                                   ("n_test", n_test, len(te_images))):
        if count > available:
            raise UserError(f"{name} = {count} exceeds the {available} images of the MNIST "
                            f"{name[2:]} files in {directory}")
    rng = np.random.default_rng(seed)
    train, test = _prefix(rng, len(tr_images), n_train), _prefix(rng, len(te_images), n_test)
    phrase = (f"MNIST train files ({len(tr_images)}) in {directory} for train ({len(train)}), "
              f"test files ({len(te_images)}) for test ({len(test)}), seeded prefixes "
              f"(seed {seed})")
    return tr_images[train], tr_labels[train], te_images[test], te_labels[test], phrase


def classification_split(dataset: str, n_train: int, n_test: int, seed: int,
                         data_dir: str | None = None) -> Split:
    """Features and labels of ``dataset`` ("mnist" or "digits"), split into train and test.

    MNIST with both its train and test files: n_train drawn from train and n_test from test
    (prefixes of seeded permutations). One split's files only, or digits: one seeded permutation
    into disjoint train (first n_train) and test (next n_test). A count of 0 means all that is
    left. The draws use ``np.random.default_rng(seed)``.
    """
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}: allowed are "
                        + ", ".join(repr(d) for d in DATASETS))
    _check_counts(n_train, n_test)
    n_train, n_test = int(n_train), int(n_test)
    if dataset == "mnist":
        x_tr, y_tr, x_te, y_te, source = _mnist_split(n_train, n_test, seed, data_dir)
        features = mnist_features
    else:
        images, labels = load_digits()
        x_tr, y_tr, x_te, y_te, source = _split_one(images, labels, n_train, n_test, seed,
                                                    "scikit-learn's digits")
        features = digits_features
    return Split(x_train=features(x_tr), y_train=y_tr.astype(np.int64),
                 x_test=features(x_te), y_test=y_te.astype(np.int64), source=source)
