"""The ``robustness_score`` evaluate module (script, card, Space app) and its numpy core, ``functional``."""
