"""Dynamics for one seed at one hyperparameter point: discrete optax optimizers and gradient flow."""
