"""Numerical solvers of nppsim: graded grids, the full Nernst-Planck-Poisson solver and its
compiled kernels (with numpy twins).

`solve(problem)` integrates a `Problem` (plain physical description, see `solvers.problem`)
and returns a `Solution`. Most users go through `nppsim.simulate(case)` instead.
"""

from __future__ import annotations

from solvers.grid import cell_centers_nm, graded_faces_nm
from solvers.npp import solve
from solvers.problem import Problem, Solution, SpeciesSpec, StageSpec

__all__ = [
    "Problem",
    "Solution",
    "SpeciesSpec",
    "StageSpec",
    "cell_centers_nm",
    "graded_faces_nm",
    "solve",
]
