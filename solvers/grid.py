"""Graded one-dimensional grids for cell-centred finite volumes.

Uniform fine cells cover the depth the profiles reach; beyond it the cells grow geometrically
(ratio `growth`) up to the sample thickness, so the ohmic bulk costs a few hundred cells at most.
"""

from __future__ import annotations

import numpy as np


def graded_faces_nm(
    thickness_nm: float, fine_depth_nm: float, fine_spacing_nm: float, growth: float
) -> np.ndarray:
    """Cell faces (nm) from 0 to thickness_nm.

    fine_depth_nm: depth covered by uniform cells of fine_spacing_nm (nm); beyond it each cell is
    `growth` times the previous one. The last cell is merged with its neighbour when it would be
    shorter than the previous cell, so no cell is more than `growth` times its neighbour nor
    abruptly smaller. Raises ValueError for inconsistent values.
    """
    if not (thickness_nm > 0 and fine_spacing_nm > 0 and growth >= 1.0):
        raise ValueError("thickness, spacing must be > 0 and growth >= 1")
    fine_depth_nm = min(fine_depth_nm, thickness_nm)
    n_fine = max(1, round(fine_depth_nm / fine_spacing_nm))
    faces = list(np.linspace(0.0, n_fine * fine_spacing_nm, n_fine + 1))
    if faces[-1] >= thickness_nm:
        faces = list(
            np.linspace(0.0, thickness_nm, max(1, round(thickness_nm / fine_spacing_nm)) + 1)
        )
        return np.asarray(faces)
    h = fine_spacing_nm
    x = faces[-1]
    while True:
        h = h * growth if growth > 1.0 else h
        if x + h >= thickness_nm:
            break
        x += h
        faces.append(x)
    # The remainder L - x is in (0, h]; merge it into the previous cell when it is much smaller
    # than its neighbour, so the last cell stays within the growth ratio of its neighbour.
    remainder = thickness_nm - faces[-1]
    if len(faces) > 2 and remainder < 0.5 * (faces[-1] - faces[-2]):
        faces.pop()
    faces.append(thickness_nm)
    return np.asarray(faces, dtype=float)


def cell_centers_nm(faces_nm: np.ndarray) -> np.ndarray:
    """Cell centres (nm): midpoints of consecutive faces."""
    return 0.5 * (faces_nm[1:] + faces_nm[:-1])


def n_cells(
    thickness_nm: float, fine_depth_nm: float, fine_spacing_nm: float, growth: float
) -> int:
    """Number of cells of the graded grid with these parameters."""
    return len(graded_faces_nm(thickness_nm, fine_depth_nm, fine_spacing_nm, growth)) - 1
