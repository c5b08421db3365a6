"""Test setup: strict rank promotion; x64 *available* (exact identities run in float64).

The engine casts every array to the run's dtype explicitly (float32 unless `x64: true`), so with
x64 enabled here both dtypes are exercised; `test_cli.py` also runs the CLI in a subprocess with
x64 off, the way users run it.
"""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_enable_x64", True)


@pytest.fixture
def tmp_runs(tmp_path):
    return tmp_path / "runs"
