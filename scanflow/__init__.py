"""scanflow: a JAX simulator for checking theorems about how 1-layer transformers train."""

__version__ = "0.1.0"
