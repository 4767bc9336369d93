"""Names a config chooses among, importable without JAX: the keys of tables that live in JAX
modules (``tests/test_lazy_config.py`` checks that they agree)."""

ACTIVATION_NAMES = ("relu", "relu2", "linear", "tanh", "softplus", "gelu")  # models.model
INIT_SCHEMES = ("torch", "jax")  # the seeded initializations of ``initial.seeded_weights``
