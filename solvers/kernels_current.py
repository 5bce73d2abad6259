"""Current control in the full NPP solver's time loop (`solvers.kernels.advance`, numba,
cache=True): the bordered Newton system whose extra unknown is the front potential, and the
test that an iterate carries the target current.

Under current control the total current through the front, the ionic front flux plus the
displacement current lambda^2 dG/dt (G = (U - psi_0) / d_0, the field at the front face, dG/dt
by the step's BDF formula), equals the target; the front potential U is an unknown of the step.
Scaled units as in `solvers.kernels` (fluxes in fraction nm/s, potentials in thermal units).
"""

from __future__ import annotations

import math

from numba import njit

from solvers.bdf import BDF_ABS_SUM
from solvers.kernels_assembly import front_flux
from solvers.stepping import CURRENT_ROUNDOFF, NEWTON_CURRENT_TOL


@njit(cache=True)
def bordered_update(
    dy, zcol, jac_front, psi_front, psi_0, h0, d0, lam2, a0, dt, hist_g, target, n_species
):  # fmt: skip
    """The Newton update of the bordered system [A b; c^T e] [dy; du] = -[res; g] from the
    solutions dy = -A^-1 res and zcol = A^-1 b of the unbordered one: returns (ok, du), du the
    update of the front potential, and corrects dy in place (dy -= zcol du); ok False where the
    system is singular (the caller retries the step). jac_front: the total ionic front flux and
    its derivatives (`solvers.kernels_assembly.front_jacobian`); psi_0: cell 0's potential; h0,
    d0: the first cell's width and node distance (nm); lam2 (nm^2), a0, dt (s), hist_g (the
    front field's BDF history), target (the total current, fraction nm/s)."""
    nb = n_species + 1
    # the field at the front face (thermal units per nm), in flux units
    w_front = dt / h0
    g_new = (psi_front - psi_0) / d0
    cdisp = lam2 * a0 / (dt * d0)
    g = w_front * (jac_front[0] + lam2 * (a0 * g_new + hist_g) / dt - target)
    ct_y, ct_z = bordered_products(jac_front, w_front, cdisp, dy, zcol, n_species)
    e_corner = w_front * (jac_front[nb + 1] + cdisp)
    denom = e_corner - ct_z
    if denom == 0.0 or not math.isfinite(denom):
        return False, 0.0
    du = (-g - ct_y) / denom
    for r in range(dy.shape[0]):
        dy[r] -= zcol[r] * du
    return True, du


@njit(cache=True)
def bordered_products(jac_front, w_front, cdisp, x, zcol, n_species):
    """(c^T x, c^T zcol) of the bordered system's row c (the current constraint's derivatives
    with respect to cell 0's unknowns, `bordered_update`): w_front = dt / h_0 (s/nm), cdisp the
    displacement current's derivative with respect to psi_0."""
    ct_x = 0.0
    ct_z = 0.0
    for r in range(n_species + 1):
        cr = w_front * jac_front[1 + r]
        if r == n_species:
            cr -= w_front * cdisp
        ct_x += cr * x[r]
        ct_z += cr * zcol[r]
    return ct_x, ct_z


@njit(cache=True)
def current_met(
    y, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, lam2,
    a0, dt, hist_g, target, order,
):  # fmt: skip
    """Whether the iterate y with front potential psi_front (a step of order `order`, size dt)
    carries the target total current (ionic plus displacement) within NEWTON_CURRENT_TOL of
    the target (or of 1e-3 of the ionic flux), plus the round-off of the displacement term's
    BDF formula (CURRENT_ROUNDOFF of its terms' size)."""
    n_species = z.shape[0]
    flux_it = front_flux(
        y, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm
    )  # fmt: skip
    psi_0 = y[n_species]
    disp = lam2 * (a0 * (psi_front - psi_0) / d[0] + hist_g) / dt
    size = abs(flux_it) + lam2 * BDF_ABS_SUM[order] * (abs(psi_front) + abs(psi_0)) / (d[0] * dt)
    tol_j = NEWTON_CURRENT_TOL * max(abs(target), 1.0e-3 * abs(flux_it))
    return abs(flux_it + disp - target) <= tol_j + CURRENT_ROUNDOFF * size
