"""The active window of the full NPP solver's time loop (`solvers.kernels.advance`, numba,
cache=True): which cells a step solves, and the pristine bulk beyond them in closed form.

Beyond the window every fraction is at its bulk value (within `WINDOW_TOL_REL` of its error
weight), the glass carries no charge, and the potential falls linearly from the window's last
cell to 0 at the grounded back; the species cross that bulk by drift in its uniform field.
Interleaved unknowns and scaled units as in `solvers.kernels`; tail[j] = L - x_j (nm), the
distance of cell j's centre from the back.
"""

from __future__ import annotations

from numba import njit

#: the active window keeps at least this many pristine cells beyond the last non-pristine one
#: and grows by twice as many beyond it (`window_size`); as in the electroneutral solver
WINDOW_MARGIN = 12
#: a fraction within this multiple of its error weight (atol + rtol c_bulk) of its bulk value
#: is pristine for the active window: far below anything the error control resolves
WINDOW_TOL_REL = 1.0e-6


@njit(cache=True)
def fill_bulk_potential(row, n_last, n0, n1, n_species, tail):
    """The potentials of cells n0..n1-1 in `row` (interleaved unknowns, or their sensitivities
    or history differences) from that of cell n_last - 1: the pristine bulk beyond the active
    window carries no charge, so its potential falls linearly to 0 at the back, psi_j =
    psi_last (L - x_j) / (L - x_last); tail[j] = L - x_j (nm)."""
    nb = n_species + 1
    p_last = row[(n_last - 1) * nb + n_species]
    t_last = tail[n_last - 1]
    for j in range(n0, n1):
        row[j * nb + n_species] = p_last * (tail[j] / t_last)


@njit(cache=True)
def window_size(y, n_act, n_cells, n_species, c_bulk, window_tol):
    """The size of the active window after a step: unchanged while its last WINDOW_MARGIN cells
    are pristine (|c_i - c_bulk[i]| <= window_tol[i] for every species), else grown to 2
    WINDOW_MARGIN cells beyond the last non-pristine one (at most n_cells). It never shrinks."""
    nb = n_species + 1
    for k in range(n_act - 1, max(n_act - WINDOW_MARGIN, 0) - 1, -1):
        for i in range(n_species):
            if abs(y[k * nb + i] - c_bulk[i]) > window_tol[i]:
                return min(n_cells, k + 1 + 2 * WINDOW_MARGIN)
    return n_act


@njit(cache=True)
def initial_window(y, n_species, c_bulk, window_tol):
    """The window for the state y at a stage start: 2 WINDOW_MARGIN cells beyond its last
    non-pristine one (see `window_size`), at most every cell."""
    nb = n_species + 1
    n_cells = y.shape[0] // nb
    for k in range(n_cells - 1, -1, -1):
        for i in range(n_species):
            if abs(y[k * nb + i] - c_bulk[i]) > window_tol[i]:
                return min(n_cells, k + 1 + 2 * WINDOW_MARGIN)
    return min(n_cells, 2 * WINDOW_MARGIN)


@njit(cache=True)
def grow_window(y, dd, sd, dwin, d, tail, n_act, n_species, c_bulk, window_tol):
    """After an accepted step: the window's new size (`window_size`); when it grows, the new
    cells' potentials in the state y, its history dd and the sensitivities' sd (every row) are
    those of the bulk's linear profile, which they had at every earlier time, and the node
    distances dwin the steps see end with the distance to the back, tail[last] (d[N] at the
    whole grid). Returns the new size."""
    n_cells = tail.shape[0]
    n_new = window_size(y, n_act, n_cells, n_species, c_bulk, window_tol)
    if n_new > n_act:
        fill_bulk_potential(y, n_act, n_act, n_new, n_species, tail)
        for j in range(dd.shape[0]):
            fill_bulk_potential(dd[j], n_act, n_act, n_new, n_species, tail)
            for q in range(sd.shape[0]):
                fill_bulk_potential(sd[q, j], n_act, n_act, n_new, n_species, tail)
        dwin[n_act] = d[n_act]
        dwin[n_new] = tail[n_new - 1] if n_new < n_cells else d[n_cells]
    return n_new


@njit(cache=True)
def fill_histories(dd, sd, n_act, n_species, tail):
    """The potentials of the cells beyond the window (n_act of them active) in every row of the
    history dd and of the sensitivities' sd, from the bulk's linear profile."""
    n_cells = tail.shape[0]
    if n_act < n_cells:
        for j in range(dd.shape[0]):
            fill_bulk_potential(dd[j], n_act, n_act, n_cells, n_species, tail)
            for q in range(sd.shape[0]):
                fill_bulk_potential(sd[q, j], n_act, n_act, n_cells, n_species, tail)


@njit(cache=True)
def snapshot(snap, y, sd, n_act, n_species, tail):
    """A stored output: snap[0] the state y, snap[1 + q] the sensitivities sd[q, 0], each with
    the potentials beyond the window (n_act cells active) from the bulk's linear profile."""
    n = y.shape[0]
    for r in range(n):
        snap[0, r] = y[r]
    fill_bulk_potential(snap[0], n_act, n_act, tail.shape[0], n_species, tail)
    for q in range(sd.shape[0]):
        for r in range(n):
            snap[1 + q, r] = sd[q, 0, r]
        fill_bulk_potential(snap[1 + q], n_act, n_act, tail.shape[0], n_species, tail)


@njit(cache=True)
def call_end(status, dd, sd, n_act, n_species, tail):
    """The end of a call of the time loop: `fill_histories`, so that the caller sees whole
    states; returns status."""
    fill_histories(dd, sd, n_act, n_species, tail)
    return status
