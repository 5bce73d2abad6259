"""Compiled assembly of the full NPP solver (numba, cache=True): Scharfetter-Gummel face fluxes
and their derivatives, the residual and banded Jacobian of one implicit step, the Newton
systems of two and three species, the front flux and the discrete species balances.

Split out of `solvers.kernels` (which re-exports every name here); unknowns, band layout and
units as described there. Numpy twins: `solvers.kernels_numpy`.
"""

from __future__ import annotations

import math

from numba import njit

from solvers.kernels_linalg import block_solve_2
from solvers.kernels_linalg3 import block_solve_3
from solvers.kernels_mobility import (
    CELL_0,
    bernoulli,
    bernoulli_pair,
    species_mobility,
    update_mobilities,
)


@njit(cache=True)
def band_widths(n_species):
    """(kl, ku) of the Jacobian for unknowns ordered (c_1..c_S, psi) in each cell: a species
    row reaches back to the same species one cell earlier (S+1 columns) and forward to the
    next cell's potential (2S+1 columns)."""
    return n_species + 1, 2 * n_species + 1


# ---------------------------------------------------------------------------------------------
# Residual and Jacobian
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _add(ab, kv, row, col, value):
    ab[col, kv + row - col] += value


@njit(cache=True)
def assemble(
    y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, dval, dder, res, ab, dres_du, jac_front,
    fflux, fdl, fdr, fdp, c_seen,
):  # fmt: skip
    """Residual `res` and banded Jacobian `ab` of one implicit step (BDF form).

    Species rows: a0 c + hist + dt/h_k (F_{k+1/2} - F_{k-1/2}) = 0, with hist the history part
    of the BDF formula; Poisson rows (scaled by lambda^2/h_k): lambda^2/h_k (flux of grad psi)
    + sum z c - cfix = 0. psi_front: potential at x = 0 (thermal units); src: index of the
    source species (-1: blocking front) held at c_src; back_kind/back_c: per-species back
    condition (0 reservoir at back_c, 1 blocking, 2 absorbing). h: cell widths (nm); d: node
    distances (N+1, the first and last are half cells to the boundaries); lam2: Debye length
    squared (nm^2). Outputs: dres_du (rows of cell 0: derivative w.r.t. psi_front),
    jac_front: [total front flux sum z F(0), its derivatives w.r.t. cell-0 unknowns (S+1),
    w.r.t. psi_front]. Workspace: fflux, fdl, fdr, fdp (S, N + 1) and c_seen (S, N) of
    `face_fluxes` (dval/dder are brought up to date where c differs from c_seen). Returns
    nothing; arrays are overwritten.
    """
    n_species = z.shape[0]
    nb = n_species + 1
    n_cells = h.shape[0]
    kl, ku = band_widths(n_species)
    kv = kl + ku
    ab[:, :] = 0.0
    dres_du[:] = 0.0

    # time derivative and Poisson source terms
    for k in range(n_cells):
        base = k * nb
        q = 0.0
        for i in range(n_species):
            res[base + i] = a0 * y[base + i] + hist[base + i]
            ab[base + i, kv] = a0
            q += z[i] * y[base + i]
            _add(ab, kv, base + n_species, base + i, z[i])
        res[base + n_species] = q - cfix

    # Poisson: interior faces and the two boundary faces (psi_front at x = 0, 0 at x = L)
    for f in range(n_cells + 1):
        if f == 0:
            r = n_species
            coef = lam2 / (h[0] * d[0])
            psi0 = y[r]
            res[r] += coef * (psi_front - psi0)
            _add(ab, kv, r, r, -coef)
            dres_du[n_species] += coef
        elif f == n_cells:
            r = (n_cells - 1) * nb + n_species
            coef = lam2 / (h[n_cells - 1] * d[n_cells])
            res[r] += coef * (0.0 - y[r])
            _add(ab, kv, r, r, -coef)
        else:
            rl = (f - 1) * nb + n_species
            rr = f * nb + n_species
            gl = lam2 / (h[f - 1] * d[f])
            gr = lam2 / (h[f] * d[f])
            diff = y[rr] - y[rl]
            res[rl] += gl * diff
            _add(ab, kv, rl, rr, gl)
            _add(ab, kv, rl, rl, -gl)
            res[rr] -= gr * diff
            _add(ab, kv, rr, rr, -gr)
            _add(ab, kv, rr, rl, gr)

    # species fluxes (Scharfetter-Gummel, arithmetic mean of the nodal D at each face), face
    # by face from face_fluxes (the flux part of the two-species block path too)
    face_fluxes(
        y, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd, slope,
        n_lo, cref, c_imm, dval, dder, c_seen, fflux, fdl, fdr, fdp,
    )  # fmt: skip
    front_jacobian(z, fflux, fdr, fdp, jac_front)
    for i in range(n_species):
        # front face x = 0: -w F(0) in the rows of cell 0 (F depends on c_0, psi_0, psi_front)
        if src == i:
            w = dt / h[0]
            res[i] -= w * fflux[i, 0]
            _add(ab, kv, i, i, -w * fdr[i, 0])
            _add(ab, kv, i, n_species, -w * fdp[i, 0])
            dres_du[i] += w * fdp[i, 0]
        # back face x = L: +w F(L) in the rows of the last cell
        if back_kind[i] != 1:
            kc = n_cells - 1
            rc = kc * nb + i
            w = dt / h[kc]
            res[rc] += w * fflux[i, n_cells]
            _add(ab, kv, rc, rc, w * fdl[i, n_cells])
            _add(ab, kv, rc, kc * nb + n_species, -w * fdp[i, n_cells])
    # interior faces: +w F in the rows of the cell on the left, -w F on the right
    for f in range(1, n_cells):
        pl = (f - 1) * nb + n_species
        pr = f * nb + n_species
        wl = dt / h[f - 1]
        wr = dt / h[f]
        for i in range(n_species):
            rl = (f - 1) * nb + i
            rr = f * nb + i
            flux = fflux[i, f]
            dcl = fdl[i, f]
            dcr = fdr[i, f]
            dpr = fdp[i, f]
            res[rl] += wl * flux
            _add(ab, kv, rl, rl, wl * dcl)
            _add(ab, kv, rl, rr, wl * dcr)
            _add(ab, kv, rl, pl, -wl * dpr)
            _add(ab, kv, rl, pr, wl * dpr)
            res[rr] -= wr * flux
            _add(ab, kv, rr, rl, -wr * dcl)
            _add(ab, kv, rr, rr, -wr * dcr)
            _add(ab, kv, rr, pl, wr * dpr)
            _add(ab, kv, rr, pr, -wr * dpr)


@njit(cache=True)
def front_jacobian(z, fflux, fdr, fdp, jac_front):
    """jac_front = [sum z F(0), its derivatives with respect to the cell-0 unknowns (S + 1),
    with respect to psi_front], from the front-face arrays of `face_fluxes`."""
    n_species = z.shape[0]
    jac_front[:] = 0.0
    for i in range(n_species):
        jac_front[0] += z[i] * fflux[i, 0]
        jac_front[1 + i] = z[i] * fdr[i, 0]
        jac_front[1 + n_species] += z[i] * fdp[i, 0]
    jac_front[2 + n_species] = -jac_front[1 + n_species]


@njit(cache=True)
def mobile_part(c, c_imm_i):
    """(m, dm/dc): the mobile part m = max(c - c_imm_i, 0) of a fraction c whose part c_imm_i
    is immobile (MODEL.md section 10), and its derivative, 1 for c >= c_imm_i (the one-sided
    derivative at the kink, so that Newton sees the mobile branch the solution lives on) and 0
    below. With c_imm_i = 0 and c >= 0 this is (c, 1.0) bit for bit, so a case without an
    immobile fraction computes exactly what it did before the fraction existed."""
    m = c - c_imm_i
    if m < 0.0:
        return 0.0, 0.0
    return m, 1.0


@njit(cache=True)
def front_flux(
    y, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm
):
    """Total scaled flux sum z_i F_i through x = 0 (fraction * nm/s), positive into the sample.
    c_imm: the immobile fraction of each species (only the mobile part drifts and diffuses)."""
    if src < 0:
        return 0.0
    n_species = z.shape[0]
    i = src
    zi = z[i]
    dsrc, _ = species_mobility(c_src, i, CELL_0, kind, d_const, u0, du, logd, slope, n_lo, cref)
    d1, _ = species_mobility(y[i], i, CELL_0, kind, d_const, u0, du, logd, slope, n_lo, cref)
    dpsi = zi * (y[n_species] - psi_front)
    df = 0.5 * (dsrc + d1)
    m_src, _ = mobile_part(c_src, c_imm[i])
    m1, _ = mobile_part(y[i], c_imm[i])
    return zi * df / d[0] * (bernoulli(dpsi) * m_src - bernoulli(-dpsi) * m1)


@njit(cache=True)
def conservation_residual(
    y, hist, a0, dt, psi_front, h, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du,
    logd, slope, n_lo, cref, c_imm, out,
):  # fmt: skip
    """Discrete balance of each species for the BDF step of `assemble`: out[i] = sum_k h_k
    (a0 c_ik + hist_ik) - dt F_i(0) + dt F_i(L) (fraction nm), the boundary fluxes exactly as
    `assemble` computes them; it equals sum_k h_k res_k of assemble's species rows, in which
    the interior fluxes cancel, and is zero (to round-off) at a solution of the step."""
    n_species = z.shape[0]
    nb = n_species + 1
    n_cells = h.shape[0]
    for i in range(n_species):
        # four partial sums: one running sum is a chain of dependent additions (3x slower)
        t0 = t1 = t2 = t3 = 0.0
        k = 0
        while k + 3 < n_cells:
            r = k * nb + i
            t0 += h[k] * (a0 * y[r] + hist[r])
            t1 += h[k + 1] * (a0 * y[r + nb] + hist[r + nb])
            t2 += h[k + 2] * (a0 * y[r + 2 * nb] + hist[r + 2 * nb])
            t3 += h[k + 3] * (a0 * y[r + 3 * nb] + hist[r + 3 * nb])
            k += 4
        while k < n_cells:
            r = k * nb + i
            t0 += h[k] * (a0 * y[r] + hist[r])
            k += 1
        out[i] = (t0 + t1) + (t2 + t3) + boundary_balance(
            y, i, dt, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du,
            logd, slope, n_lo, cref, c_imm,
        )  # fmt: skip


@njit(cache=True)
def boundary_balance(
    y, i, dt, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd,
    slope, n_lo, cref, c_imm,
):  # fmt: skip
    """The boundary part of species i's balance in `conservation_residual`: -dt F_i(0) +
    dt F_i(L) (fraction nm), the front and back fluxes exactly as `assemble` computes them."""
    n_species = z.shape[0]
    nb = n_species + 1
    n_cells = d.shape[0] - 1
    total = 0.0
    zi = z[i]
    if src == i:
        dsrc, _ = species_mobility(c_src, i, CELL_0, kind, d_const, u0, du, logd, slope, n_lo, cref)
        d1, _ = species_mobility(y[i], i, CELL_0, kind, d_const, u0, du, logd, slope, n_lo, cref)
        bp, bm, _, _ = bernoulli_pair(zi * (y[n_species] - psi_front))
        m_src, _ = mobile_part(c_src, c_imm[i])
        m1, _ = mobile_part(y[i], c_imm[i])
        total -= dt * (0.5 * (dsrc + d1) / d[0] * (bp * m_src - bm * m1))
    bk = back_kind[i]
    if bk != 1:
        cb = back_c[i] if bk == 0 else 0.0
        kc = n_cells - 1
        dback, _ = species_mobility(cb, i, kc, kind, d_const, u0, du, logd, slope, n_lo, cref)
        cn = y[kc * nb + i]
        dn_, _ = species_mobility(cn, i, kc, kind, d_const, u0, du, logd, slope, n_lo, cref)
        bp, bm, _, _ = bernoulli_pair(zi * (0.0 - y[kc * nb + n_species]))
        mn, _ = mobile_part(cn, c_imm[i])
        mb, _ = mobile_part(cb, c_imm[i])
        total += dt * (0.5 * (dn_ + dback) / d[n_cells] * (bp * mn - bm * mb))
    return total


# ---------------------------------------------------------------------------------------------
# Two and three species: the Newton system assembled from the face fluxes
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _sg_face(g, inv_d, bp, bm, dbp, dbm, zi, cl, cr, sl, sr, ddl, ddr):
    """Scharfetter-Gummel flux through a face and its derivatives, as in `assemble`: g the
    face's D over the node distance, inv_d 1 / node distance, (bp, bm, dbp, dbm) the Bernoulli
    pair of zi (psi_r - psi_l), cl / cr the mobile parts of the fractions (`mobile_part`), sl /
    sr their derivatives with respect to the fractions, ddl / ddr the dD/dc left and right.
    Returns (F, dF/dcl, dF/dcr, dF/dpsi_r); dF/dpsi_l = -dF/dpsi_r."""
    drift = bp * cl - bm * cr
    return (
        g * drift,
        g * bp * sl + 0.5 * ddl * inv_d * drift,
        -g * bm * sr + 0.5 * ddr * inv_d * drift,
        g * zi * (dbp * cl + dbm * cr),
    )


@njit(cache=True)
def face_fluxes(
    y, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd, slope, n_lo,
    cref, c_imm, dval, dder, c_seen, fflux, fdl, fdr, fdp,
):  # fmt: skip
    """Scharfetter-Gummel flux of every species through every face and its derivatives, the
    numbers `assemble` uses.

    Face f lies between cells f-1 and f (f = 0: the front x = 0, f = N: the back x = L).
    fflux[i, f]: flux F (fraction nm/s, positive towards the back); fdl / fdr: dF/dc of the
    cell on the left / right; fdp: dF/dpsi of the cell on the right (dF/dpsi of the left cell
    is -fdp). At the front the left side is the source (c_src at psi_front), at the back the
    right side the back condition (back_c or 0 at potential 0); fdl[:, 0] and fdr[:, N] are 0,
    and all four are 0 at a blocking face. dval, dder: D and dD/dc per species and cell,
    brought up to date here (`update_mobilities`, with c_seen). c_imm: the immobile fraction
    of each species: the flux moves the mobile part max(c - c_imm, 0) (`mobile_part`) with D
    at the total fraction c (MODEL.md section 10).
    """
    n_species = z.shape[0]
    nb = n_species + 1
    n_cells = d.shape[0] - 1
    update_mobilities(
        y, n_species, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, c_seen
    )  # fmt: skip
    for i in range(n_species):
        zi = z[i]
        for f in (0, n_cells):
            fflux[i, f] = 0.0
            fdl[i, f] = 0.0
            fdr[i, f] = 0.0
            fdp[i, f] = 0.0
        if src == i:
            dsrc, _ = species_mobility(
                c_src, i, CELL_0, kind, d_const, u0, du, logd, slope, n_lo, cref
            )  # fmt: skip
            bp, bm, dbp, dbm = bernoulli_pair(zi * (y[n_species] - psi_front))
            inv_d = 1.0 / d[0]
            m_src, s_src = mobile_part(c_src, c_imm[i])
            m1, s1 = mobile_part(y[i], c_imm[i])
            f_, _, r_, p_ = _sg_face(
                0.5 * (dsrc + dval[i, 0]) * inv_d, inv_d, bp, bm, dbp, dbm, zi, m_src, m1,
                s_src, s1, 0.0, dder[i, 0],
            )  # fmt: skip
            fflux[i, 0] = f_
            fdr[i, 0] = r_
            fdp[i, 0] = p_
        bk = back_kind[i]
        if bk != 1:
            cb = back_c[i] if bk == 0 else 0.0
            kc = n_cells - 1
            dback, _ = species_mobility(cb, i, kc, kind, d_const, u0, du, logd, slope, n_lo, cref)
            bp, bm, dbp, dbm = bernoulli_pair(zi * (0.0 - y[kc * nb + n_species]))
            inv_d = 1.0 / d[n_cells]
            mn, sn = mobile_part(y[kc * nb + i], c_imm[i])
            mb, sb = mobile_part(cb, c_imm[i])
            f_, l_, _, p_ = _sg_face(
                0.5 * (dval[i, kc] + dback) * inv_d, inv_d, bp, bm, dbp, dbm, zi, mn, mb, sn, sb,
                dder[i, kc], 0.0,
            )  # fmt: skip
            fflux[i, n_cells] = f_
            fdl[i, n_cells] = l_
            fdp[i, n_cells] = p_
    for f in range(1, n_cells):
        pl = (f - 1) * nb + n_species
        dpsi0 = y[pl + nb] - y[pl]
        inv_d = 1.0 / d[f]
        z_done = math.nan  # one Bernoulli evaluation per face for all species of one charge
        bp = bm = dbp = dbm = 0.0
        for i in range(n_species):
            zi = z[i]
            if zi != z_done:
                bp, bm, dbp, dbm = bernoulli_pair(zi * dpsi0)
                z_done = zi
            cl = y[(f - 1) * nb + i]
            cr = y[f * nb + i]
            g = 0.5 * (dval[i, f - 1] + dval[i, f]) * inv_d
            if c_imm[i] == 0.0:
                # no immobile part: mobile_part would return (c, 1.0); with the constant
                # slopes the compiled face is the one without the immobile fraction (face
                # fluxes 10-15 % faster than through mobile_part, bit for bit the same)
                f_, l_, r_, p_ = _sg_face(
                    g, inv_d, bp, bm, dbp, dbm, zi, cl, cr, 1.0, 1.0, dder[i, f - 1], dder[i, f]
                )  # fmt: skip
            else:
                ml, sl = mobile_part(cl, c_imm[i])
                mr, sr = mobile_part(cr, c_imm[i])
                f_, l_, r_, p_ = _sg_face(
                    g, inv_d, bp, bm, dbp, dbm, zi, ml, mr, sl, sr, dder[i, f - 1], dder[i, f]
                )  # fmt: skip
            fflux[i, f] = f_
            fdl[i, f] = l_
            fdr[i, f] = r_
            fdp[i, f] = p_


@njit(cache=True)
def newton_system_2(
    y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, dval, dder, c_seen, fflux, fdl, fdr, fdp,
    res, dy, jac_front, bordered, zcol, xblk, dinv,
):  # fmt: skip
    """Residual, Newton update dy = -J^-1 res and (if `bordered`) zcol = J^-1 d res/d psi_front
    of one implicit step with two species: `face_fluxes`, then `block_solve_2`; jac_front as
    in `assemble`; dval, dder, c_seen: see `face_fluxes`; xblk, dinv: see `block_solve_2`.
    Returns False if a diagonal block is ill-conditioned (see `block_solve_2`).
    About 3x faster than `assemble` + `banded_lu` + `banded_solve` on lbo_k: no band to clear,
    fill and factor with pivoting."""
    face_fluxes(
        y, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd, slope,
        n_lo, cref, c_imm, dval, dder, c_seen, fflux, fdl, fdr, fdp,
    )  # fmt: skip
    front_jacobian(z, fflux, fdr, fdp, jac_front)
    return block_solve_2(
        y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, fflux, fdl, fdr, fdp, res, dy,
        bordered, zcol, xblk, dinv,
    )  # fmt: skip


@njit(cache=True)
def newton_system_3(
    y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, dval, dder, c_seen, fflux, fdl, fdr, fdp,
    res, dy, jac_front, bordered, zcol, xblk,
):  # fmt: skip
    """`newton_system_2` for three species: `face_fluxes`, then `block_solve_3` (4 x 4 blocks;
    xblk (N, 16)). Returns False if a diagonal block is ill-conditioned."""
    face_fluxes(
        y, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd, slope,
        n_lo, cref, c_imm, dval, dder, c_seen, fflux, fdl, fdr, fdp,
    )  # fmt: skip
    front_jacobian(z, fflux, fdr, fdp, jac_front)
    return block_solve_3(
        y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, fflux, fdl, fdr, fdp, res, dy,
        bordered, zcol, xblk,
    )  # fmt: skip
