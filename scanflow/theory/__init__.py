"""Closed-form and reduced-ODE predictions of each paper, with equation references."""
