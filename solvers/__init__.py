"""Numerical solvers of nppsim: graded grids, the full Nernst-Planck-Poisson solver and its
compiled kernels (with numpy twins).

`solve(problem)` integrates a `Problem` (plain physical description, see `solvers.problem`)
and returns a `Solution`. Most users go through `nppsim.simulate(case)` instead.
"""

from __future__ import annotations

from solvers import cachestamp as _cachestamp

# before any kernel module is imported: numba's cache files of kernels compiled from other
# sources are deleted (numba checks only the file that defines a function; see cachestamp)
_cachestamp.refresh()

from solvers.grid import cell_centers_nm, graded_faces_nm  # noqa: E402
from solvers.npp import solve  # noqa: E402
from solvers.problem import Problem, Solution, SpeciesSpec, StageSpec  # noqa: E402

__all__ = [
    "Problem",
    "Solution",
    "SpeciesSpec",
    "StageSpec",
    "cell_centers_nm",
    "graded_faces_nm",
    "solve",
]
