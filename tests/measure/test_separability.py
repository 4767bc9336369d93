import numpy as np

from wnbias.measure.separability import linearly_separable


def test_separable_and_not():
    x = np.array([[1.0, 1.0], [-1.0, 1.0], [2.0, 0.5]])
    assert linearly_separable(x, np.array([-1.0, 1.0, -1.0]))  # w = (-1, 0)
    # XOR is not linearly separable through the origin (nor at all)
    xor = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    assert not linearly_separable(xor, np.array([-1.0, -1.0, 1.0, 1.0]))
    # the same point with both labels
    assert not linearly_separable(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([1.0, -1.0]))
