"""The scenarios: pure functions, the registry, the engine that runs them, plug-ins
(ImageNet-C corruptions, the generative ``ai_background``).

Imports only :mod:`ximagenet12.core` and :mod:`ximagenet12.io` (docs/architecture.md).
"""
