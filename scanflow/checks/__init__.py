"""Numerical checks of each paper, registered in `scanflow.verify.REGISTRY` on import."""
