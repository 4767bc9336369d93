import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from wnbias.data.real import (
    Split,
    classification_split,
    digits_features,
    load_digits,
    load_mnist,
    mnist_dir,
    mnist_features,
    one_hot,
    read_idx,
)
from wnbias.errors import UserError

SHARED_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
T10K_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
T10K_PIXEL_MEAN = 0.13251  # mean of all t10k pixels / 255 (0.132515, computed from the files)

IMAGES, LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


# ---- helpers ----------------------------------------------------------------------------------

def idx_bytes(array, *, type_code=0x08, first=b"\x00\x00", extra=b"", cut=0) -> bytes:
    """An IDX file of ``array`` (uint8), optionally corrupted: another type code or first two
    bytes, ``extra`` bytes appended, the last ``cut`` bytes removed."""
    array = np.asarray(array, dtype=np.uint8)
    header = first + bytes([type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes() + extra
    return data[: len(data) - cut]


def write(path: Path, data: bytes, gz: bool) -> Path:
    """``data`` at ``path`` (+ ".gz", gzipped, when ``gz``)."""
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def tiny_images(n: int, seed: int = 0, shape=(28, 28)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def write_pair(directory: Path, images, labels, gz: bool, names=(IMAGES, LABELS)):
    return (write(directory / names[0], idx_bytes(images), gz),
            write(directory / names[1], idx_bytes(labels), gz))


def raises_one_line(fn, *substrings) -> str:
    """Calls ``fn``, asserts a one-line UserError containing every substring; returns it."""
    with pytest.raises(UserError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    for s in substrings:
        assert str(s) in message, (s, message)
    return message


def row_hashes(x) -> list[bytes]:
    return [hashlib.sha1(row.tobytes()).digest() for row in x]


# ---- the shared real files (t10k only) -------------------------------------------------------

@pytest.fixture(scope="module")
def shared_mnist() -> str:
    if not (SHARED_MNIST / f"{IMAGES}.gz").is_file():
        pytest.skip(f"../shared/data/mnist not present (a fresh clone): {SHARED_MNIST} "
                    f"holds no {IMAGES}.gz")
    return str(SHARED_MNIST)


@pytest.fixture(scope="module")
def t10k(shared_mnist):
    return load_mnist(shared_mnist)


def test_real_t10k_loads_with_known_class_counts(t10k):
    assert set(t10k) == {"test"}  # the train files are not shared
    images, labels = t10k["test"]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == T10K_CLASS_COUNTS


def test_real_t10k_features_pad_scale_normalize(t10k):
    images, _ = t10k["test"]
    x = mnist_features(images)
    assert x.shape == (10000, 1024) and x.dtype == np.float32
    grid = x.reshape(-1, 32, 32)
    border = np.float32((0 - 0.1307) / 0.3081)
    for edge in (grid[:, :2, :], grid[:, -2:, :], grid[:, :, :2], grid[:, :, -2:]):
        np.testing.assert_allclose(edge, border, rtol=1e-6)
    # undo the normalization: the 28x28 interior is the image / 255, whose mean is the test set's
    unnormalized = grid * np.float32(0.3081) + np.float32(0.1307)
    np.testing.assert_allclose(unnormalized[:, 2:30, 2:30], images / 255.0, atol=1e-6)
    assert abs(unnormalized[:, 2:30, 2:30].mean() - T10K_PIXEL_MEAN) < 1e-3
    # padding dilutes the mean by 784 / 1024
    assert abs(unnormalized.mean() - T10K_PIXEL_MEAN * 784 / 1024) < 1e-3


def test_real_t10k_split_is_disjoint_labelled_and_seeded(shared_mnist, t10k):
    split = classification_split("mnist", 8192, 0, 0, shared_mnist)
    assert split.x_train.shape == (8192, 1024) and split.x_test.shape == (1808, 1024)
    assert split.y_train.shape == (8192,) and split.y_test.shape == (1808,)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    assert split.n_classes == 10
    assert "t10k" in split.source and "8192 train / 1808 test" in split.source
    train, test = row_hashes(split.x_train), row_hashes(split.x_test)
    assert len(set(train)) == 8192 and len(set(test)) == 1808  # the t10k images are distinct
    assert not set(train) & set(test)
    # every (image, label) pair is one of the file's
    images, labels = t10k["test"]
    label_of = dict(zip(row_hashes(mnist_features(images)), labels.tolist(), strict=True))
    assert [label_of[h] for h in train] == split.y_train.tolist()
    assert [label_of[h] for h in test] == split.y_test.tolist()
    again = classification_split("mnist", 8192, 0, 0, shared_mnist)
    np.testing.assert_array_equal(again.x_train, split.x_train)
    np.testing.assert_array_equal(again.y_test, split.y_test)
    other = classification_split("mnist", 8192, 0, 1, shared_mnist)
    assert row_hashes(other.x_train) != train


# ---- tiny files -------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_tiny_pair_round_trips(tmp_path, gz):
    images, labels = tiny_images(3), np.array([0, 9, 5], dtype=np.uint8)
    images_path, labels_path = write_pair(tmp_path, images, labels, gz)
    assert images_path.name.endswith(".gz") == gz
    got = read_idx(images_path)
    assert got.dtype == np.uint8 and got.flags.writeable
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(labels_path), labels)
    splits = load_mnist(str(tmp_path))
    assert set(splits) == {"test"}
    np.testing.assert_array_equal(splits["test"][0], images)
    np.testing.assert_array_equal(splits["test"][1], labels)


def test_gzip_detected_by_magic_not_extension(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    gz_named_plain = tmp_path / "plain.gz"
    gz_named_plain.write_bytes(idx_bytes(labels))
    plain_named_gz = tmp_path / "packed"
    plain_named_gz.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(gz_named_plain), labels)
    np.testing.assert_array_equal(read_idx(plain_named_gz), labels)


def test_plain_file_preferred_over_gz(tmp_path):
    images = tiny_images(2)
    write_pair(tmp_path, images, np.array([1, 2]), gz=False)
    write_pair(tmp_path, images, np.array([3, 4]), gz=True)
    assert load_mnist(str(tmp_path))["test"][1].tolist() == [1, 2]


def test_both_splits_loaded(tmp_path):
    write_pair(tmp_path, tiny_images(4), np.arange(4), gz=True,
               names=(TRAIN_IMAGES, TRAIN_LABELS))
    write_pair(tmp_path, tiny_images(2, seed=1), np.array([7, 8]), gz=False)
    splits = load_mnist(str(tmp_path))
    assert {k: len(v[0]) for k, v in splits.items()} == {"train": 4, "test": 2}
    assert splits["test"][1].tolist() == [7, 8]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("corrupt, expected", [
    (dict(first=b"\x00\x01"), "first two bytes to be zero"),
    (dict(type_code=0x0D), "type code 0x0d, expected 0x08"),
    (dict(cut=5), "truncated: expected 2352 bytes of data, found 2347"),
    (dict(extra=b"\x00\x00\x00"), "3 trailing bytes"),
])
def test_read_idx_refuses_corrupt_files(tmp_path, gz, corrupt, expected):
    path = write(tmp_path / IMAGES, idx_bytes(tiny_images(3), **corrupt), gz)
    write(tmp_path / LABELS, idx_bytes(np.zeros(3)), gz)
    raises_one_line(lambda: read_idx(path), path, expected)
    raises_one_line(lambda: load_mnist(str(tmp_path)), path, expected)


def test_read_idx_refuses_truncated_header_and_bad_gzip(tmp_path):
    header_only = tmp_path / "header"
    header_only.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02")
    raises_one_line(lambda: read_idx(header_only), header_only, "truncated header")
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x1f\x8b" + b"not gzip at all")
    raises_one_line(lambda: read_idx(junk), junk, "gzip")
    cut_stream = tmp_path / "cut"
    cut_stream.write_bytes(gzip.compress(idx_bytes(tiny_images(3)))[:-20])
    raises_one_line(lambda: read_idx(cut_stream), cut_stream, "gzip")


@pytest.mark.parametrize("gz", [False, True])
def test_wrong_number_of_dims_is_a_wrong_magic(tmp_path, gz):
    images_path, labels_path = write_pair(tmp_path, tiny_images(3).reshape(3, 784),
                                          np.zeros(3), gz)
    raises_one_line(lambda: load_mnist(str(tmp_path)), images_path, "magic 2050", "2051",
                    "images")
    write_pair(tmp_path, tiny_images(3), np.zeros((3, 1, 1)), gz)
    raises_one_line(lambda: load_mnist(str(tmp_path)), labels_path, "magic 2051", "2049",
                    "labels")


@pytest.mark.parametrize("gz", [False, True])
def test_images_must_be_28x28(tmp_path, gz):
    images_path, _ = write_pair(tmp_path, tiny_images(3, shape=(27, 28)), np.zeros(3), gz)
    raises_one_line(lambda: load_mnist(str(tmp_path)), images_path, "27x28", "expected 28x28")


@pytest.mark.parametrize("gz", [False, True])
def test_labels_must_be_digits(tmp_path, gz):
    _, labels_path = write_pair(tmp_path, tiny_images(3), np.array([0, 10, 3]), gz)
    raises_one_line(lambda: load_mnist(str(tmp_path)), labels_path, "label 10", "0..9")


@pytest.mark.parametrize("gz", [False, True])
def test_counts_must_agree(tmp_path, gz):
    images_path, labels_path = write_pair(tmp_path, tiny_images(3), np.zeros(2), gz)
    raises_one_line(lambda: load_mnist(str(tmp_path)), images_path, labels_path,
                    "3 images", "2 labels")


@pytest.mark.parametrize("gz", [False, True])
def test_a_missing_partner_file_is_named(tmp_path, gz):
    images_path = write(tmp_path / IMAGES, idx_bytes(tiny_images(3)), gz)
    raises_one_line(lambda: load_mnist(str(tmp_path)), images_path, LABELS)
    images_path.unlink()
    labels_path = write(tmp_path / TRAIN_LABELS, idx_bytes(np.zeros(3)), gz)
    raises_one_line(lambda: load_mnist(str(tmp_path)), labels_path, TRAIN_IMAGES)


def test_directory_errors(tmp_path, monkeypatch):
    raises_one_line(lambda: mnist_dir(str(tmp_path)), tmp_path, "none of the MNIST files",
                    IMAGES, LABELS, TRAIN_IMAGES, TRAIN_LABELS)
    missing = tmp_path / "nowhere"
    raises_one_line(lambda: load_mnist(str(missing)), missing, "does not exist")
    monkeypatch.delenv("WNBIAS_DATA", raising=False)
    for data_dir in (None, ""):
        raises_one_line(lambda d=data_dir: mnist_dir(d), "no MNIST directory", "$WNBIAS_DATA",
                        "data_dir", IMAGES)
    raises_one_line(lambda: classification_split("mnist", 1, 1, 0), "$WNBIAS_DATA")


def test_wnbias_data_locates_the_directory(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    write_pair(tmp_path / "mnist", tiny_images(2), np.array([4, 2]), gz=True)
    monkeypatch.setenv("WNBIAS_DATA", str(tmp_path))
    assert mnist_dir() == tmp_path / "mnist"
    assert load_mnist()["test"][1].tolist() == [4, 2]
    other = tmp_path / "other"
    other.mkdir()
    write_pair(other, tiny_images(1), np.array([6]), gz=False)
    assert mnist_dir(str(other)) == other  # data_dir wins over $WNBIAS_DATA


# ---- splits on tiny files ---------------------------------------------------------------------

def test_split_of_one_file_set(tmp_path):
    images, labels = tiny_images(10), np.arange(10) % 10
    write_pair(tmp_path, images, labels, gz=True)
    split = classification_split("mnist", 6, 0, 3, str(tmp_path))
    assert isinstance(split, Split)
    assert len(split.x_train) == 6 and len(split.x_test) == 4  # n_test = 0: all that is left
    everything = row_hashes(mnist_features(images))
    train, test = row_hashes(split.x_train), row_hashes(split.x_test)
    assert sorted(train + test) == sorted(everything)
    # labels 0..9 are distinct here, so they identify the images
    assert [everything.index(h) for h in train] == split.y_train.tolist()
    assert [everything.index(h) for h in test] == split.y_test.tolist()
    assert len(classification_split("mnist", 0, 3, 3, str(tmp_path)).x_train) == 7
    both = classification_split("mnist", 2, 5, 3, str(tmp_path))
    assert (len(both.y_train), len(both.y_test)) == (2, 5)
    raises_one_line(lambda: classification_split("mnist", 8, 3, 0, str(tmp_path)),
                    "8 + 3 = 11", "10 images", tmp_path)
    raises_one_line(lambda: classification_split("mnist", 0, 0, 0, str(tmp_path)), "both 0")


def test_split_of_train_and_test_files(tmp_path):
    write_pair(tmp_path, tiny_images(8), np.arange(8), gz=False,
               names=(TRAIN_IMAGES, TRAIN_LABELS))
    test_images = tiny_images(4, seed=1)
    write_pair(tmp_path, test_images, np.array([9, 8, 7, 6]), gz=True)
    split = classification_split("mnist", 5, 0, 0, str(tmp_path))
    assert len(split.y_train) == 5 and set(split.y_train.tolist()) <= set(range(8))
    assert sorted(split.y_test.tolist()) == [6, 7, 8, 9]  # n_test = 0: the whole test file
    assert sorted(row_hashes(split.x_test)) == sorted(row_hashes(mnist_features(test_images)))
    assert "train files (8)" in split.source and "test files (4)" in split.source
    assert len(classification_split("mnist", 0, 2, 0, str(tmp_path)).y_train) == 8
    raises_one_line(lambda: classification_split("mnist", 9, 1, 0, str(tmp_path)),
                    "n_train = 9", "8 images")
    raises_one_line(lambda: classification_split("mnist", 1, 5, 0, str(tmp_path)),
                    "n_test = 5", "4 images")


def test_split_arguments_checked():
    raises_one_line(lambda: classification_split("cifar", 1, 1, 0), "'cifar'", "'mnist'",
                    "'digits'")
    raises_one_line(lambda: classification_split("digits", -1, 1, 0), "n_train", "-1")


def test_one_hot():
    y = one_hot(np.array([2, 0, 1]), k=3)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    assert one_hot(np.array([9])).shape == (1, 10)
    with pytest.raises(ValueError):
        one_hot(np.array([3]), k=3)


# ---- digits -----------------------------------------------------------------------------------

def test_digits_load_and_features():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float64
    assert images.min() == 0 and images.max() == 16
    assert labels.shape == (1797,) and np.issubdtype(labels.dtype, np.integer)
    assert set(labels.tolist()) == set(range(10))
    x = digits_features(images)
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert abs(x.mean()) < 1e-3 and abs(x.std() - 1) < 1e-3
    np.testing.assert_allclose(x.reshape(-1, 8, 8), (images / 16 - 0.3053) / 0.3760, rtol=1e-5)


def test_digits_read_from_the_file_are_scikit_learns():
    """Read without importing scikit-learn, they are what its load_digits returns."""
    from sklearn.datasets import load_digits as sklearn_digits

    images, labels = load_digits()
    bunch = sklearn_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(labels, bunch.target)


def test_digits_split():
    split = classification_split("digits", 1000, 0, 0)
    assert (len(split.x_train), len(split.x_test)) == (1000, 797)
    assert split.x_train.shape[1] == 64 and split.n_classes == 10
    assert not set(row_hashes(split.x_train)) & set(row_hashes(split.x_test))
    assert "digits" in split.source and "1000 train / 797 test" in split.source
    np.testing.assert_array_equal(classification_split("digits", 1000, 0, 0).y_train,
                                  split.y_train)
    raises_one_line(lambda: classification_split("digits", 1000, 800, 0), "1800", "1797")
