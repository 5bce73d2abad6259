"""Pure-numpy twins of the compiled kernels in `solvers.kernels`.

Written independently (vectorised, with scatter-adds instead of loops) so that agreement
between the two is a real check. Same arguments, same scaled units; slower, never used by
the production time loop; benchmarks/baseline_scipy.py builds its method-of-lines residual and
Jacobian from them (the user's own alternative: scipy's solve_ivp on the same scheme).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from solvers.kernels import BERNOULLI_BIG, BERNOULLI_SERIES, LOGD_OVERFILL_MAX


def bernoulli(x: np.ndarray) -> np.ndarray:
    """B(x) = x / (exp(x) - 1), vectorised."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    small = np.abs(x) < BERNOULLI_SERIES
    big = x > BERNOULLI_BIG
    neg = x < -BERNOULLI_BIG
    mid = ~(small | big | neg)
    xs = x[small]
    x2 = xs * xs
    out[small] = 1.0 - 0.5 * xs + x2 / 12.0 - x2 * x2 / 720.0 + x2 * x2 * x2 / 30240.0
    out[big] = x[big] * np.exp(-x[big])
    out[neg] = -x[neg]
    out[mid] = x[mid] / np.expm1(x[mid])
    return out


def bernoulli_prime(x: np.ndarray) -> np.ndarray:
    """dB/dx, vectorised."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    small = np.abs(x) < BERNOULLI_SERIES
    xs = x[small]
    x2 = xs * xs
    out[small] = -0.5 + xs / 6.0 - xs * x2 / 180.0 + xs * x2 * x2 / 5040.0
    xl = x[~small]
    b = bernoulli(xl)
    out[~small] = b * (1.0 - xl - b) / xl
    return out


def mobility(c, kind, d_const, u0, du, logd, slope, n_lo):
    """(D, dD/dc) for an array of fractions c (see `solvers.kernels.mobility`)."""
    c = np.asarray(c, dtype=float)
    if kind == 0:
        return np.full_like(c, d_const), np.zeros_like(c)
    m = logd.shape[0]
    d_lo = np.exp(logd[0])
    dval = np.zeros_like(c)
    dder = np.full_like(c, d_lo / n_lo)
    tail = (c > 0) & (c < n_lo)
    dval[tail] = d_lo * c[tail] / n_lo
    main = c >= n_lo
    u = np.log(c[main])
    inv_du = 1.0 / du
    s = (u - u0) * inv_du
    i = np.clip(np.floor(s).astype(np.int64), 0, m - 2)
    t = s - i
    beyond = t > 1.0
    t = np.minimum(t, 1.0)  # the cubic is not evaluated beyond the last node
    # the cubic Hermite interpolant in Horner form (as the kernel): nodal value, difference
    # and slopes times du
    dl = logd[i + 1] - logd[i]
    s0 = slope[i] * du
    s1 = slope[i + 1] * du
    c2 = 3.0 * dl - 2.0 * s0 - s1
    c3 = s0 + s1 - 2.0 * dl
    y = logd[i] + t * (s0 + t * (c2 + t * c3))
    dy = (s0 + t * (2.0 * c2 + 3.0 * t * c3)) * inv_du
    u_last = u0 + (m - 1) * du
    y_ext = logd[m - 1] + slope[m - 1] * (u - u_last)
    capped = beyond & (y_ext > logd[m - 1] + LOGD_OVERFILL_MAX)
    y = np.where(beyond, np.minimum(y_ext, logd[m - 1] + LOGD_OVERFILL_MAX), y)
    dy = np.where(beyond, np.where(capped, 0.0, slope[m - 1]), dy)
    dm = np.exp(y)
    dval[main] = dm
    dder[main] = dm * dy / c[main]
    return dval, dder


def species_mobility(c, i, kind, d_const, u0, du, logd, slope, n_lo, cref=None):
    """(D, dD/dc) of species i for fractions c in the cells that cref[i] refers to.

    See `solvers.kernels.species_mobility`: kind 2 evaluates the table at c / cref[i] and
    holds D at D(1) where c >= cref[i] or cref[i] = 0; cref[i] must broadcast against c.
    """
    args = (d_const[i], u0[i], du[i], logd[i], slope[i], n_lo[i])
    if kind[i] != 2:
        return mobility(c, kind[i], *args)
    c = np.asarray(c, dtype=float)
    r = np.broadcast_to(np.asarray(cref[i], dtype=float), c.shape)
    full = (r <= 0.0) | (c >= r)
    safe_r = np.where(full, 1.0, r)
    dv, dd = mobility(np.where(full, 1.0, c / safe_r), 1, *args)
    return dv, np.where(full, 0.0, dd / safe_r)


def mobile_part(c, c_imm_i):
    """(max(c - c_imm_i, 0), dm/dc), vectorised (see `solvers.kernels.mobile_part`)."""
    c = np.asarray(c, dtype=float)
    m = c - c_imm_i
    keep = m >= 0.0
    return np.where(keep, m, 0.0), keep.astype(float)


def _sg(df, dist, zi, cl, cr, psil, psir):
    """SG flux and its derivatives w.r.t. (cl, cr, psil, psir); df, its c-derivatives apart."""
    dpsi = zi * (psir - psil)
    bp, bm = bernoulli(dpsi), bernoulli(-dpsi)
    drift = bp * cl - bm * cr
    g = df / dist
    dpr = g * zi * (bernoulli_prime(dpsi) * cl + bernoulli_prime(-dpsi) * cr)
    return g * drift, drift / dist, g * bp, -g * bm, -dpr, dpr


def assemble(y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
             kind, d_const, u0, du, logd, slope, n_lo, cref=None, c_imm=None):  # fmt: skip
    """Residual and banded Jacobian (transposed LAPACK gbtrf layout) of one implicit step.

    cref: per-cell reference fractions (n_species, n_cells) for species of kind 2 (else unused);
    c_imm: per species the immobile fraction (None: all 0); the SG fluxes move the mobile
    part max(c - c_imm, 0) with D at c.
    Returns (res, ab, dres_du, jac_front) exactly as `solvers.kernels.assemble` fills them.
    """
    n_species = len(z)
    nb = n_species + 1
    n_cells = len(h)
    n = n_cells * nb
    c_imm = np.zeros(n_species) if c_imm is None else np.asarray(c_imm, dtype=float)
    kl, ku = n_species + 1, 2 * n_species + 1  # see solvers.kernels.band_widths
    kv = kl + ku
    cells = np.arange(n_cells)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def add(r, c, v):
        r, c, v = np.broadcast_arrays(np.asarray(r), np.asarray(c), np.asarray(v, dtype=float))
        rows.append(r.ravel())
        cols.append(c.ravel())
        vals.append(v.ravel())

    res = np.zeros(n)
    dres_du = np.zeros(nb)
    jac_front = np.zeros(nb + 2)
    c = np.stack([y[i::nb] for i in range(n_species)])
    psi = y[n_species::nb]
    prow = cells * nb + n_species
    res[prow] = z @ c - cfix
    for i in range(n_species):
        res[cells * nb + i] = a0 * c[i] + hist[cells * nb + i]
        add(cells * nb + i, cells * nb + i, a0)
        add(prow, cells * nb + i, z[i])
    # Poisson
    psi_ext = np.concatenate([[psi_front], psi, [0.0]])
    g_right = lam2 / (h * d[1:])
    g_left = lam2 / (h * d[:-1])
    res[prow] += g_right * (psi_ext[2:] - psi) - g_left * (psi - psi_ext[:-2])
    add(prow, prow, -(g_right + g_left))
    add(prow[:-1], prow[1:], g_right[:-1])
    add(prow[1:], prow[:-1], g_left[1:])
    dres_du[n_species] = g_left[0]
    # species
    for i in range(n_species):
        tab = (kind, d_const, u0, du, logd, slope, n_lo)
        dv, dd = species_mobility(c[i], i, *tab, cref)
        zi = z[i]
        rc = cells * nb + i
        m, sm = mobile_part(c[i], c_imm[i])
        # interior faces
        df = 0.5 * (dv[:-1] + dv[1:])
        f, ddf, dcl, dcr, dpl, dpr = _sg(df, d[1:-1], zi, m[:-1], m[1:], psi[:-1], psi[1:])
        dcl = dcl * sm[:-1] + 0.5 * dd[:-1] * ddf
        dcr = dcr * sm[1:] + 0.5 * dd[1:] * ddf
        wl = dt / h[:-1]
        wr = dt / h[1:]
        res[rc[:-1]] += wl * f
        res[rc[1:]] -= wr * f
        for rr, w in ((rc[:-1], wl), (rc[1:], -wr)):
            add(rr, rc[:-1], w * dcl)
            add(rr, rc[1:], w * dcr)
            add(rr, prow[:-1], w * dpl)
            add(rr, prow[1:], w * dpr)
        if src == i:
            dsrc, _ = species_mobility(
                np.array([c_src]), i, *tab, None if cref is None else cref[:, :1]
            )
            df0 = 0.5 * (dsrc[0] + dv[0])
            m_src = mobile_part(np.array([c_src]), c_imm[i])[0]
            f0, ddf0, _, dcr0, dpl0, dpr0 = _sg(
                np.array([df0]), d[0], zi, m_src, m[:1], np.array([psi_front]), psi[:1],
            )  # fmt: skip
            dc1 = dcr0[0] * sm[0] + 0.5 * dd[0] * ddf0[0]
            w = dt / h[0]
            res[i] -= w * f0[0]
            add(i, i, -w * dc1)
            add(i, n_species, -w * dpr0[0])
            dres_du[i] -= w * dpl0[0]
            jac_front[0] += zi * f0[0]
            jac_front[1 + i] += zi * dc1
            jac_front[1 + n_species] += zi * dpr0[0]
            jac_front[2 + n_species] += zi * dpl0[0]
        if back_kind[i] != 1:
            cb = back_c[i] if back_kind[i] == 0 else 0.0
            dbk, _ = species_mobility(
                np.array([cb]), i, *tab, None if cref is None else cref[:, -1:]
            )
            dfn = 0.5 * (dv[-1] + dbk[0])
            m_back = mobile_part(np.array([cb]), c_imm[i])[0]
            fn, ddfn, dcn, _, dpn, _ = _sg(
                np.array([dfn]), d[-1], zi, m[-1:], m_back, psi[-1:], np.array([0.0])
            )
            w = dt / h[-1]
            res[rc[-1]] += w * fn[0]
            add(rc[-1], rc[-1], w * (dcn[0] * sm[-1] + 0.5 * dd[-1] * ddfn[0]))
            add(rc[-1], prow[-1], w * dpn[0])
    r = np.concatenate(rows)
    col = np.concatenate(cols)
    v = np.concatenate(vals)
    ab = np.zeros((n, 2 * kl + ku + 1))
    np.add.at(ab, (col, kv + r - col), v)
    return res, ab, dres_du, jac_front


def banded_solve(ab, kl, ku, b):
    """Solve A x = b for A in the transposed gbtrf layout (scipy.linalg.solve_banded)."""
    return scipy.linalg.solve_banded((kl, ku), ab[:, kl:].T, b)


def conservation_residual(y, hist, a0, dt, psi_front, h, d, z, src, c_src, back_kind, back_c,
                          kind, d_const, u0, du, logd, slope, n_lo, cref=None,
                          c_imm=None):  # fmt: skip
    """Discrete balance of each species (see `solvers.kernels.conservation_residual`):
    sum_k h_k res_k over the species rows of `assemble`, in which the interior fluxes cancel."""
    n_species = len(z)
    nb = n_species + 1
    res, *_ = assemble(
        y, hist, a0, dt, psi_front, h, d, 1.0, z, 0.0, src, c_src, back_kind, back_c, kind,
        d_const, u0, du, logd, slope, n_lo, cref, c_imm,
    )  # fmt: skip
    return np.array([np.dot(h, res[i::nb]) for i in range(n_species)])
