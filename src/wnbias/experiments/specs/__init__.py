"""An experiment's spec: its name, paper, config and presets, importable without JAX; the
computation lives in experiments/<name>.py.

Each module here holds an experiment's ``Config`` (with its ``check()``) and its ``EXPERIMENT``,
whose ``setup``, ``run``, ``claims`` and ``figures`` come from the implementation module it
names, imported on first use. A spec imports only light modules (``wnbias.config``, ``errors``,
``papers``, ``names``, NumPy and ``experiments.blocks``); a check that must read a file
(``init_from``) imports what it needs from the implementation module inside ``check()``.
"""
