"""The other half of the notebooks under nbval (a separate file so pytest-xdist runs both halves at once)."""

import pytest

from test_notebooks import NOTEBOOKS, run_nbval


@pytest.mark.slow
def test_second_half_of_the_notebooks_runs_under_nbval_lax(tiny_bank):
    run_nbval(NOTEBOOKS[1::2], tiny_bank)
