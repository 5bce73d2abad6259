"""Compiled kernels of the full Nernst-Planck-Poisson solver (numba, cache=True).

Scaled variables inside the kernels: fractions c = n / n_bulk, potential psi = e phi / (k_B T),
lengths in nm, times in s, diffusion coefficients in nm^2/s, fluxes in (fraction * nm/s).

Unknowns are interleaved per cell: y[k*(S+1) + i] = c_i in cell k (i < S), y[k*(S+1) + S] = psi_k.
The Jacobian is banded with kl = S+1, ku = 2S+1 (`band_widths`) and stored as the transpose of
the LAPACK gbtrf layout, A[r, col] -> AB[col, kl + ku + r - col] (shape n x (2 kl + ku + 1),
kl extra entries per column for the fill-in of pivoting), so that each column of the band is
contiguous in memory.

Every kernel here has a numpy twin in `solvers.kernels_numpy`; tests check they agree.
All functions are module-level and free of closures so that the on-disk cache is reused by
every new process.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sed.table import LN_OVERFULL_GAIN_MAX

#: |x| below which the Bernoulli function and its derivative use their Taylor series: at 1e-2
#: the first omitted terms are < 1e-20, while x/expm1(x) would lose digits in 1 - x - B.
BERNOULLI_SERIES = 1.0e-2
#: beyond this |x| exp(x) overflows; B(x) -> x e^{-x} (x > 0) or -x (x < 0) is then exact in
#: double precision.
BERNOULLI_BIG = 700.0

#: beyond the last table node ln D is extrapolated with the (steep) slope of the site-saturation
#: cap; it is held at most this far above the cap value (the convention of package sed), so
#: that unphysical overfilling in a Newton iterate cannot overflow exp.
LOGD_OVERFILL_MAX = LN_OVERFULL_GAIN_MAX

#: mobility kinds: 0 constant D, 1 table in ln c, 2 the same table in ln(c / cref[i, k]) with a
#: reference fraction per cell (an SED referenced to the species' local fraction at the start of
#: the stage); D is held at the reference value D(1) where c >= cref.
KIND_CONSTANT = 0
KIND_TABLE = 1
KIND_CELL_REFERENCE = 2
# typed (not literal) copies of constants passed as call arguments: a literal argument makes
# numba compile the callee a second time, specialised to the literal (1-2 s of cold compile)
KIND_TABLE_I64 = np.int64(KIND_TABLE)
CELL_0 = np.int64(0)
#: a species whose fraction in a cell at the stage start is below this is absent there: the
#: cell gets the reference 0, and the species moves with D(1) in it. (A tiny positive reference
#: would make D(c) rise from 0 to D(1) within c < 1e-12, a flux so steep in c that Newton's
#: update criterion is met long before the residual is: the species would not enter at all.)
CREF_ABSENT = 1.0e-6

# Status codes of `advance`.
STATUS_OK = 0
STATUS_DT_UNDERFLOW = 1
STATUS_MAX_STEPS = 2
STATUS_BUFFER_FULL = 3
#: a converged, error-controlled step brought a fraction above its limit `c_limit` (the site
#: density N_sites / n_bulk): the dilute model is outside its validity there; the step is not
#: accepted, fs[FS_OVER_C], fs[FS_OVER_T], ist[IS_OVER_SPECIES], ist[IS_OVER_CELL] say where.
STATUS_OVERFULL = 4

# Newton and step-control constants.
#: Newton converged when the update is below this fraction of the error weights (atol + rtol|c|),
#: i.e. the iteration error is 1 % of what the step-size control allows (Hairer & Wanner, Solving
#: ODEs II, IV.8, recommend 1e-2 to 1e-1); 1e-3 changed no profile by more than 1e-9 (lbo_k).
NEWTON_TOL = 1.0e-2
#: ...and the potential update below this (thermal-voltage units, ~3e-8 V at 350 K), relative to
#: the front potential when that exceeds one thermal voltage: a potential error of 1e-6 of the
#: applied voltage changes the current by ~1e-6 of itself, far below the local error control.
NEWTON_PSI_TOL = 1.0e-6
#: maximum Newton iterations before the step is retried with a smaller step.
NEWTON_MAXITER = 12
#: Newton is quadratic: the next update is about kappa E^2 (E the scaled size of this update,
#: max of |dc|/(NEWTON_TOL w) and |dpsi| over the potential tolerance), with kappa observed on
#: earlier iterations (lbo_k: 1e-12 to 2.4e-8, median 1.8e-9, while E_1 ~ 3.6e3 and E_2 ~ 0.02). An
#: iterate is accepted when this estimate, times the safety factor, is below 1: most steps then
#: need one Newton iteration instead of a second one that only confirms convergence. Only BDF2
#: steps, whose error estimate would also see a Newton error, use the estimate, and kappa is
#: observed afresh after every backward-Euler step: in the dielectric transient at the start
#: kappa grows 1000-fold within a few steps.
NEWTON_KAPPA_SAFETY = 1.0
#: kappa decays by this factor per observation, so that it follows a problem that becomes
#: more linear, but never below the newest observation.
NEWTON_KAPPA_DECAY = 0.5
#: after this many steps accepted on the estimate, one step iterates to E <= 1 again, which
#: refreshes kappa (the nonlinearity changes as the front forms and moves).
NEWTON_KAPPA_REFRESH = 16
# An iterate that passes the update test is accepted only if each species' discrete balance
# (storage change minus the boundary fluxes, `conservation_residual`) is below NEWTON_BALANCE_TOL
# of what the error control allows for its inventory, NEWTON_BALANCE_TOL a0 (rtol sum_k h_k |c_k| +
# atol h_0). The update test alone bounds each cell's error by NEWTON_TOL (atol + rtol |c_k|),
# which over a 500 um sample admits NEWTON_TOL atol L = 5e-5 nm of a species per step: for a
# fast foreign ion with a small inventory (K with D = 1e-8 cm^2/s: 0.15 nm in 10 s) the charge
# passed then drifted 2e-3 from the inventory. Newton reduces this linear invariant
# quadratically, so the test costs an iteration only on such steps. NEWTON_BALANCE_TOL, 10x
# tighter than NEWTON_TOL, keeps the drift over ~1e3 such steps below ~1e-6 of the inventory.
NEWTON_BALANCE_TOL = 1.0e-3
# Under current control an iterate is accepted only if, in addition, its total front current
# (ionic plus displacement: the bordered constraint, evaluated at the iterate) equals the target
# within NEWTON_CURRENT_TOL of the target (of 1e-3 of the ionic current when that is larger),
# plus CURRENT_ROUNDOFF of the size of its terms: the displacement term lam2 (a0 G + hist) / dt,
# G = (U - psi_0) / d_0, is known only to the round-off of the potentials,
# ~eps lam2 (a0 - a1 + a2) (|U| + |psi_0|) / (d_0 dt), which in the first steps of a stage
# (dt ~ 1e-9 s) is ~1e-7 of the current: no iterate does better there. The update test alone
# leaves the constraint's quadratic remainder: in the first microseconds of a galvanostatic
# stage a BDF2 step accepted after one Newton iteration held the total current up to 2e-2 off
# the target (the charge stayed exact: the BDF history corrects it on the next step). The test
# costs ~10-15 % more Newton iterations in galvanostatic runs (travelling-front tests: 1764 ->
# 2039, 3788 -> 4166; same steps), none in potentiostatic ones.
NEWTON_CURRENT_TOL = 5.0e-10
CURRENT_ROUNDOFF = 1.0e-15
#: a 3 x 3 diagonal block of the two-species elimination (`newton_system_2`) whose determinant
#: is below this fraction of the product of its row norms is treated as ill-conditioned: that
#: Newton iteration is solved by the banded LU with partial pivoting instead. On lbo_k this
#: happens in the first 22 of 1361 iterations (dt <= ~1e-4 s, where the Poisson rows of the
#: deep 20 um cells are ~1e-12 of the species rows). Beyond it the block solution's normwise
#: backward error is 1e-16 at the step sizes the run takes (dt >= 1 s on developed profiles)
#: and grows as 1 / dt (6e-10 at dt = 1e-3 s on the final lbo_k profile): an inexact Newton
#: iteration there, harmless, and a failed iteration is retried with the banded LU anyway.
BLOCK_DET_MIN = 1.0e-10
#: largest potential change per Newton iteration (thermal-voltage units); larger updates are
#: scaled down as a whole (damping), which keeps the exponential SG fluxes in range.
DPSI_MAX = 5.0
#: step-size controller: safety factor, largest growth (variable-step BDF2 is zero-stable for
#: ratios below 1 + sqrt(2)), smallest shrink per step.
SAFETY = 0.85
GROWTH_MAX = 2.0
SHRINK_MIN = 0.2
#: shrink factor after a Newton failure.
SHRINK_FAIL = 0.25
#: the electroneutral solver rejects a step with a concentration below -NEG_TOL after
#: convergence and sets tiny negative round-off above it to zero. (`advance` needs no such
#: test: its Newton update keeps every fraction >= 0.)
NEG_TOL = 1.0e-12


@njit(cache=True)
def band_widths(n_species):
    """(kl, ku) of the Jacobian for unknowns ordered (c_1..c_S, psi) in each cell: a species
    row reaches back to the same species one cell earlier (S+1 columns) and forward to the
    next cell's potential (2S+1 columns)."""
    return n_species + 1, 2 * n_species + 1


# ---------------------------------------------------------------------------------------------
# Bernoulli function B(x) = x / (exp(x) - 1) and its derivative
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def bernoulli(x: float) -> float:
    """B(x) = x / (exp(x) - 1), accurate and overflow-safe for all real x."""
    ax = abs(x)
    if ax < BERNOULLI_SERIES:
        x2 = x * x
        return 1.0 - 0.5 * x + x2 / 12.0 - x2 * x2 / 720.0 + x2 * x2 * x2 / 30240.0
    if x > BERNOULLI_BIG:
        return x * math.exp(-x)
    if x < -BERNOULLI_BIG:
        return -x
    return x / math.expm1(x)


@njit(cache=True)
def bernoulli_pair(x):
    """(B(x), B(-x), B'(x), B'(-x)) from one exponential: B(-x) = B(x) + x and
    B'(-x) = -(B'(x) + 1), applied from the non-negative side to avoid cancellation."""
    a = abs(x)
    if a < BERNOULLI_SERIES:
        b = bernoulli(a)
        db = bernoulli_prime(a)
    elif a > BERNOULLI_BIG:
        b = bernoulli(a)
        db = b * (1.0 - a - b) / a
    else:
        # B = a r and B' = B (1 - a - B) / a = r (1 - a - B), r = 1 / expm1(a): one division
        r = 1.0 / math.expm1(a)
        b = a * r
        db = r * (1.0 - a - b)
    if x >= 0.0:
        return b, b + a, db, -(db + 1.0)
    return b + a, b, -(db + 1.0), db


@njit(cache=True)
def bernoulli_prime(x: float) -> float:
    """dB/dx = B(x) (1 - x - B(x)) / x, with its series near 0."""
    ax = abs(x)
    if ax < BERNOULLI_SERIES:
        x2 = x * x
        return -0.5 + x / 6.0 - x * x2 / 180.0 + x * x2 * x2 / 5040.0
    b = bernoulli(x)
    return b * (1.0 - x - b) / x


# ---------------------------------------------------------------------------------------------
# D(c) from a kernel table (see sed.table.evaluate_table for the numpy reference)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def hermite_log_d(t, l0, l1, g0, g1, du, inv_du):
    """ln D and d ln D / d ln c at the fraction t in [0, 1] of a table interval: the cubic
    Hermite interpolant through the nodal values l0, l1 with nodal slopes g0, g1 (d ln D /
    d ln c), node spacing du (inv_du = 1 / du). Horner form (fewer operations than the basis
    functions), written with the difference of the nodal values (avoids cancelling two large
    ln D values). Scalars only, so that the compiled loops that call it per cell inline it
    without passing arrays (the table lookup of `mobility`, `_species_mobilities` and
    `solvers.electroneutral_kernels.native_mobilities`)."""
    dl = l1 - l0
    s0 = g0 * du
    s1 = g1 * du
    c2 = 3.0 * dl - 2.0 * s0 - s1
    c3 = s0 + s1 - 2.0 * dl
    return l0 + t * (s0 + t * (c2 + t * c3)), (s0 + t * (2.0 * c2 + 3.0 * t * c3)) * inv_du


@njit(cache=True)
def mobility(c, kind, d_const, u0, du, logd, slope, n_lo):
    """(D, dD/dc) at fraction c; kind 0: constant d_const; kind 1: cubic Hermite in ln c.

    logd, slope: table of ln D and d lnD / d ln c at nodes u0 + k du (D in the caller's units).
    `_species_mobilities` performs the same operations in its loop over the cells.
    """
    if kind == 0:
        return d_const, 0.0
    m = logd.shape[0]
    if c < n_lo:
        # below the first node D is linear in c (the exponential only on this rare branch)
        d_lo = math.exp(logd[0])
        if c <= 0.0:
            return 0.0, d_lo / n_lo
        return d_lo * c / n_lo, d_lo / n_lo
    u = math.log(c)
    inv_du = 1.0 / du
    s = (u - u0) * inv_du
    # int() truncates: floor for s >= 0; s in (-1, 0) (round-off at the first node) gives 0
    i = int(s)
    if i > m - 2:
        i = m - 2
    if i < 0:
        i = 0
    t = s - i
    if t > 1.0:
        y = logd[m - 1] + slope[m - 1] * (u - (u0 + (m - 1) * du))
        dy = slope[m - 1]
        if y > logd[m - 1] + LOGD_OVERFILL_MAX:
            y = logd[m - 1] + LOGD_OVERFILL_MAX
            dy = 0.0
    else:
        y, dy = hermite_log_d(t, logd[i], logd[i + 1], slope[i], slope[i + 1], du, inv_du)
    d = math.exp(y)
    return d, d * dy / c


@njit(cache=True)
def species_mobility(c, i, k, kind, d_const, u0, du, logd, slope, n_lo, cref):
    """(D, dD/dc) of species i at fraction c in cell k; kind 2 reads the table at c / cref[i, k]
    and holds D at D(1) where c >= cref[i, k] or the species was absent (cref <= 0)."""
    if kind[i] != KIND_CELL_REFERENCE:
        return mobility(c, kind[i], d_const[i], u0[i], du[i], logd[i], slope[i], n_lo[i])
    r = cref[i, k]
    if r <= 0.0 or c >= r:
        dv, _ = mobility(1.0, KIND_TABLE_I64, d_const[i], u0[i], du[i], logd[i], slope[i], n_lo[i])
        return dv, 0.0
    dv, dd = mobility(c / r, KIND_TABLE_I64, d_const[i], u0[i], du[i], logd[i], slope[i], n_lo[i])
    return dv, dd / r


@njit(cache=True)
def _species_mobilities(
    y, nb, i, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, c_seen, memo
):  # fmt: skip
    """D and dD/dc of species i in every cell into dval[i], dder[i]: `species_mobility` cell by
    cell, bit for bit, with the table lookup of `mobility` written out in the loop, apart from
    the scalar `hermite_log_d` (a compiled call per cell that passes the table arrays pays
    their reference counting, as much again as the lookup; numba's inline="always" avoids it
    but quadrupled the compile time of the solver).
    memo: skip the cells whose fraction equals c_seen[i, k] bit for bit (the fraction dval/dder
    were last evaluated at; NaN: never), and record the new fractions in c_seen."""
    n_cells = y.shape[0] // nb
    ki = kind[i]
    if ki == KIND_CONSTANT:
        for k in range(n_cells):
            dval[i, k] = d_const[i]
            dder[i, k] = 0.0
        return
    logdi = logd[i]
    slopei = slope[i]
    m = logdi.shape[0]
    u0i = u0[i]
    dui = du[i]
    inv_du = 1.0 / dui
    nloi = n_lo[i]
    d_lo = math.exp(logdi[0])
    u_last = u0i + (m - 1) * dui
    y_cap = logdi[m - 1] + LOGD_OVERFILL_MAX
    ref = ki == KIND_CELL_REFERENCE
    d_one = 0.0
    if ref:
        d_one, _ = mobility(1.0, KIND_TABLE_I64, d_const[i], u0i, dui, logdi, slopei, nloi)
    for k in range(n_cells):
        c = y[k * nb + i]
        if memo:
            if c == c_seen[i, k]:
                continue
            c_seen[i, k] = c
        x = c
        r = 1.0
        if ref:
            r = cref[i, k]
            if r <= 0.0 or c >= r:
                dval[i, k] = d_one
                dder[i, k] = 0.0
                continue
            x = c / r
        # `mobility` at x, the same operations
        if x < nloi:
            dv = 0.0 if x <= 0.0 else d_lo * x / nloi
            dd = d_lo / nloi
        else:
            u = math.log(x)
            s = (u - u0i) * inv_du
            j = int(s)
            if j > m - 2:
                j = m - 2
            if j < 0:
                j = 0
            t = s - j
            if t > 1.0:
                yv = logdi[m - 1] + slopei[m - 1] * (u - u_last)
                dyv = slopei[m - 1]
                if yv > y_cap:
                    yv = y_cap
                    dyv = 0.0
            else:
                yv, dyv = hermite_log_d(
                    t, logdi[j], logdi[j + 1], slopei[j], slopei[j + 1], dui, inv_du
                )
            dv = math.exp(yv)
            dd = dv * dyv / x
        dval[i, k] = dv
        dder[i, k] = dd / r if ref else dd


@njit(cache=True)
def evaluate_mobilities(
    y, n_species, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder
):  # fmt: skip
    """Fill dval[i, k], dder[i, k] with D and dD/dc of species i in cell k (nm^2/s)."""
    for i in range(n_species):
        _species_mobilities(
            y, n_species + 1, i, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder,
            dval, False,
        )  # fmt: skip


@njit(cache=True)
def update_mobilities(
    y, n_species, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, c_seen
):  # fmt: skip
    """`evaluate_mobilities`, re-evaluating D(c) only in cells whose fraction differs from
    c_seen[i, k] (the fraction dval/dder were last evaluated at; NaN: never), which it updates.

    Exact (a fraction equal bit for bit has the same D); it pays because most cells of a CAIT
    profile are untouched bulk whose native fraction stays exactly 1 from step to step
    (lbo_k at 1000 s: 1315 of 1421 cells), where the SED table costs a log and an exp.
    """
    for i in range(n_species):
        _species_mobilities(
            y, n_species + 1, i, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder,
            c_seen, True,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Residual and Jacobian
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _add(ab, kv, row, col, value):
    ab[col, kv + row - col] += value


@njit(cache=True)
def assemble(
    y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, res, ab, dres_du, jac_front,
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
        n_lo, cref, dval, dder, c_seen, fflux, fdl, fdr, fdp,
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
def front_flux(y, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope, n_lo, cref):
    """Total scaled flux sum z_i F_i through x = 0 (fraction * nm/s), positive into the sample."""
    if src < 0:
        return 0.0
    n_species = z.shape[0]
    i = src
    zi = z[i]
    dsrc, _ = species_mobility(c_src, i, CELL_0, kind, d_const, u0, du, logd, slope, n_lo, cref)
    d1, _ = species_mobility(y[i], i, CELL_0, kind, d_const, u0, du, logd, slope, n_lo, cref)
    dpsi = zi * (y[n_species] - psi_front)
    df = 0.5 * (dsrc + d1)
    return zi * df / d[0] * (bernoulli(dpsi) * c_src - bernoulli(-dpsi) * y[i])


@njit(cache=True)
def conservation_residual(
    y, hist, a0, dt, psi_front, h, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du,
    logd, slope, n_lo, cref, out,
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
            logd, slope, n_lo, cref,
        )  # fmt: skip


@njit(cache=True)
def boundary_balance(
    y, i, dt, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd,
    slope, n_lo, cref,
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
        total -= dt * (0.5 * (dsrc + d1) / d[0] * (bp * c_src - bm * y[i]))
    bk = back_kind[i]
    if bk != 1:
        cb = back_c[i] if bk == 0 else 0.0
        kc = n_cells - 1
        dback, _ = species_mobility(cb, i, kc, kind, d_const, u0, du, logd, slope, n_lo, cref)
        cn = y[kc * nb + i]
        dn_, _ = species_mobility(cn, i, kc, kind, d_const, u0, du, logd, slope, n_lo, cref)
        bp, bm, _, _ = bernoulli_pair(zi * (0.0 - y[kc * nb + n_species]))
        total += dt * (0.5 * (dn_ + dback) / d[n_cells] * (bp * cn - bm * cb))
    return total


# ---------------------------------------------------------------------------------------------
# Banded LU with partial pivoting (the LAPACK gbtf2 algorithm), and its solve
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def banded_lu(ab, kl, ku, ipiv):
    """Factor a banded matrix in place (transposed gbtrf layout, n x (2kl+ku+1)); partial pivoting.

    Returns 0 on success, j+1 if the pivot of column j is exactly zero.
    """
    n = ab.shape[0]
    kv = kl + ku
    ju = 0
    for j in range(n):
        km = min(kl, n - 1 - j)
        p = 0
        amax = abs(ab[j, kv])
        for r in range(1, km + 1):
            v = abs(ab[j, kv + r])
            if v > amax:
                amax = v
                p = r
        ipiv[j] = j + p
        if amax == 0.0:
            return j + 1
        jlast = min(j + ku + p, n - 1)
        if jlast > ju:
            ju = jlast
        if p != 0:
            for c in range(j, ju + 1):
                a = kv + j - c
                b = kv + j + p - c
                tmp = ab[c, a]
                ab[c, a] = ab[c, b]
                ab[c, b] = tmp
        inv = 1.0 / ab[j, kv]
        for r in range(1, km + 1):
            ab[j, kv + r] *= inv
        # the update of the trailing columns, unrolled for the usual full column (kl = S + 1,
        # one or two species): 35 % faster than the generic loop, which numba does not unroll
        if km == 3:
            l1 = ab[j, kv + 1]
            l2 = ab[j, kv + 2]
            l3 = ab[j, kv + 3]
            for c in range(j + 1, ju + 1):
                off = kv + j - c
                ujc = ab[c, off]
                ab[c, off + 1] -= l1 * ujc
                ab[c, off + 2] -= l2 * ujc
                ab[c, off + 3] -= l3 * ujc
        elif km == 2:
            l1 = ab[j, kv + 1]
            l2 = ab[j, kv + 2]
            for c in range(j + 1, ju + 1):
                off = kv + j - c
                ujc = ab[c, off]
                ab[c, off + 1] -= l1 * ujc
                ab[c, off + 2] -= l2 * ujc
        else:
            for c in range(j + 1, ju + 1):
                off = kv + j - c
                ujc = ab[c, off]
                if ujc != 0.0:
                    for r in range(1, km + 1):
                        ab[c, off + r] -= ab[j, kv + r] * ujc
    return 0


@njit(cache=True)
def banded_solve(ab, kl, ku, ipiv, b):
    """Solve A x = b in place with the factors of `banded_lu`."""
    n = ab.shape[0]
    kv = kl + ku
    for j in range(n):
        p = ipiv[j]
        if p != j:
            tmp = b[j]
            b[j] = b[p]
            b[p] = tmp
        km = min(kl, n - 1 - j)
        bj = b[j]
        if bj != 0.0:
            for r in range(1, km + 1):
                b[j + r] -= ab[j, kv + r] * bj
    for j in range(n - 1, -1, -1):
        b[j] /= ab[j, kv]
        bj = b[j]
        i0 = max(0, j - kv)
        for i in range(i0, j):
            b[i] -= ab[j, kv + i - j] * bj


# ---------------------------------------------------------------------------------------------
# Two species: the Newton system assembled and eliminated cell by cell (block tridiagonal)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _sg_face(g, inv_d, bp, bm, dbp, dbm, zi, cl, cr, ddl, ddr):
    """Scharfetter-Gummel flux through a face and its derivatives, as in `assemble`: g the
    face's D over the node distance, inv_d 1 / node distance, (bp, bm, dbp, dbm) the Bernoulli
    pair of zi (psi_r - psi_l), cl / cr the fractions and ddl / ddr the dD/dc left and right.
    Returns (F, dF/dcl, dF/dcr, dF/dpsi_r); dF/dpsi_l = -dF/dpsi_r."""
    drift = bp * cl - bm * cr
    return (
        g * drift,
        g * bp + 0.5 * ddl * inv_d * drift,
        -g * bm + 0.5 * ddr * inv_d * drift,
        g * zi * (dbp * cl + dbm * cr),
    )


@njit(cache=True)
def face_fluxes(
    y, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd, slope, n_lo,
    cref, dval, dder, c_seen, fflux, fdl, fdr, fdp,
):  # fmt: skip
    """Scharfetter-Gummel flux of every species through every face and its derivatives, the
    numbers `assemble` uses.

    Face f lies between cells f-1 and f (f = 0: the front x = 0, f = N: the back x = L).
    fflux[i, f]: flux F (fraction nm/s, positive towards the back); fdl / fdr: dF/dc of the
    cell on the left / right; fdp: dF/dpsi of the cell on the right (dF/dpsi of the left cell
    is -fdp). At the front the left side is the source (c_src at psi_front), at the back the
    right side the back condition (back_c or 0 at potential 0); fdl[:, 0] and fdr[:, N] are 0,
    and all four are 0 at a blocking face. dval, dder: D and dD/dc per species and cell,
    brought up to date here (`update_mobilities`, with c_seen).
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
            f_, _, r_, p_ = _sg_face(
                0.5 * (dsrc + dval[i, 0]) * inv_d, inv_d, bp, bm, dbp, dbm, zi, c_src, y[i],
                0.0, dder[i, 0],
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
            f_, l_, _, p_ = _sg_face(
                0.5 * (dval[i, kc] + dback) * inv_d, inv_d, bp, bm, dbp, dbm, zi,
                y[kc * nb + i], cb, dder[i, kc], 0.0,
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
            f_, l_, r_, p_ = _sg_face(
                0.5 * (dval[i, f - 1] + dval[i, f]) * inv_d, inv_d, bp, bm, dbp, dbm, zi,
                y[(f - 1) * nb + i], y[f * nb + i], dder[i, f - 1], dder[i, f],
            )  # fmt: skip
            fflux[i, f] = f_
            fdl[i, f] = l_
            fdr[i, f] = r_
            fdp[i, f] = p_


@njit(cache=True)
def _adjugate3(a00, a01, a02, a10, a11, a12, a20, a21, a22):
    """Adjugate (c00 .. c22, inverse = adjugate / det) and determinant of a 3 x 3 matrix, and
    a conditioning flag: False when the determinant is below BLOCK_DET_MIN of the product of
    the row norms, or not finite (an ill-conditioned or singular block: the caller uses the
    banded LU with pivoting instead)."""
    m00 = a11 * a22 - a12 * a21
    m01 = a12 * a20 - a10 * a22
    m02 = a10 * a21 - a11 * a20
    det = a00 * m00 + a01 * m01 + a02 * m02
    n0 = abs(a00) + abs(a01) + abs(a02)
    n1 = abs(a10) + abs(a11) + abs(a12)
    n2 = abs(a20) + abs(a21) + abs(a22)
    ok = abs(det) > BLOCK_DET_MIN * (n0 * n1 * n2) and math.isfinite(det)
    return (
        m00, a02 * a21 - a01 * a22, a01 * a12 - a02 * a11,
        m01, a00 * a22 - a02 * a20, a02 * a10 - a00 * a12,
        m02, a01 * a20 - a00 * a21, a00 * a11 - a01 * a10,
        det, ok,
    )  # fmt: skip


@njit(cache=True)
def block_solve_2(
    y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, fflux, fdl, fdr, fdp, res, dy, bordered,
    zcol, xblk,
):  # fmt: skip
    """Residual `res` and Newton update dy = -J^-1 res of one implicit step with two species,
    from the face fluxes of `face_fluxes`: the system of `assemble`, solved without forming
    the band.

    Unknowns per cell (c_0, c_1, psi); the Jacobian is block tridiagonal with 3 x 3 blocks
    A_k (diagonal), B_k (to cell k+1), C_k (to cell k-1). Forward sweep:
    D_k = A_k - C_k X_{k-1}, X_k = D_k^-1 B_k, y_k = D_k^-1 (b_k - C_k y_{k-1}); backward:
    x_k = y_k - X_k x_{k+1}. There is no pivoting across cells: each D_k is inverted by its
    adjugate and checked (`_adjugate3`); the function returns False at the first
    ill-conditioned block, and the caller solves that iteration with `assemble` and the banded
    LU. If `bordered`, zcol = J^-1 e, e = d res / d psi_front (non-zero in cell 0), is solved
    in the same sweeps. xblk: workspace (N, 9).

    Accuracy: the adjugate of a block with det / (product of row norms) = q loses ~eps / q, so
    the normwise backward error is ~1e-16 at the states and step sizes of the shipped cases
    and at most ~eps / BLOCK_DET_MIN otherwise (over 3000 random states: below 1e-12 in all
    but one, 3.3e-9 there; LAPACK's pivoted band LU stays at ~1e-16). That makes a Newton
    iteration inexact by as much, which the iteration absorbs: each iterate's residual and
    balance are evaluated exactly, and a failed iteration is retried with the banded LU.

    The forward sweep is a chain of dependent operations (the 3 x 3 inverse includes a
    division): ~25 ns per cell, bound by latency. It calls no function that is not inlined: a
    call (exp, log) would make the compiled code save the live block values around it (x86-64
    has no callee-saved floating-point registers); this is why the fluxes are evaluated in a
    separate pass (fusing the two passes was 20 % slower). Also measured slower: a twisted
    elimination (two chains from both ends, 1.5x: their values do not fit the registers) and
    the block row computed by a helper returning a tuple (1.7x).
    Tried and reverted (7868901, a7f4eb7): the two chains in two threads (numba prange,
    OpenMP), each with the D(c) and faces of its half. The solve alone ran 1.7x faster, the
    time loop of lbo_k only ~8 % (the other thread's half of the unknowns moves between the
    cores' caches at every iteration), at times 2x slower (the barrier waits whenever the host
    deschedules the other vCPU), and two processes solving with two threads each ran 5.5x
    slower than with one (GNU OpenMP's spinning threads oversubscribe the cores).
    """
    n_cells = h.shape[0]
    z0 = z[0]
    z1 = z[1]
    x00 = x01 = x02 = x10 = x11 = x12 = x20 = x21 = x22 = 0.0
    p0 = p1 = p2 = 0.0
    q0 = q1 = q2 = 0.0
    for k in range(n_cells):
        base = 3 * k
        w = dt / h[k]
        c0 = y[base]
        c1 = y[base + 1]
        psi = y[base + 2]
        psi_l = psi_front if k == 0 else y[base - 1]
        psi_r = 0.0 if k == n_cells - 1 else y[base + 5]
        gl = lam2 / (h[k] * d[k])
        gr = lam2 / (h[k] * d[k + 1])
        # residuals: a0 c + hist + w (F_right - F_left); q - cfix + lam2/h (psi' right - left)
        r0 = a0 * c0 + hist[base] + w * (fflux[0, k + 1] - fflux[0, k])
        r1 = a0 * c1 + hist[base + 1] + w * (fflux[1, k + 1] - fflux[1, k])
        r2 = z0 * c0 + z1 * c1 - cfix + gr * (psi_r - psi) - gl * (psi - psi_l)
        res[base] = r0
        res[base + 1] = r1
        res[base + 2] = r2
        # diagonal block A_k: a species row depends on its own fraction and the potential
        a00 = a0 + w * (fdl[0, k + 1] - fdr[0, k])
        a01 = 0.0
        a02 = -w * (fdp[0, k + 1] + fdp[0, k])
        a10 = 0.0
        a11 = a0 + w * (fdl[1, k + 1] - fdr[1, k])
        a12 = -w * (fdp[1, k + 1] + fdp[1, k])
        a20 = z0
        a21 = z1
        a22 = -(gl + gr)
        b0 = -r0
        b1 = -r1
        b2 = -r2
        e0 = e1 = e2 = 0.0
        if k == 0:
            if bordered:
                # d res / d psi_front: the front face couples cell 0 to psi_front
                e0 = w * fdp[0, 0]
                e1 = w * fdp[1, 0]
                e2 = gl
        else:
            # C_k: species row i -> c_i (-w dF/dc_left) and psi (w dF/dpsi_right) of cell k-1
            # through the left face, Poisson row -> psi (gl)
            cd0 = -w * fdl[0, k]
            cl0 = w * fdp[0, k]
            cd1 = -w * fdl[1, k]
            cl1 = w * fdp[1, k]
            # minus C_k X_{k-1} and C_k y_{k-1}
            a00 -= cd0 * x00 + cl0 * x20
            a01 -= cd0 * x01 + cl0 * x21
            a02 -= cd0 * x02 + cl0 * x22
            a10 -= cd1 * x10 + cl1 * x20
            a11 -= cd1 * x11 + cl1 * x21
            a12 -= cd1 * x12 + cl1 * x22
            a20 -= gl * x20
            a21 -= gl * x21
            a22 -= gl * x22
            b0 -= cd0 * p0 + cl0 * p2
            b1 -= cd1 * p1 + cl1 * p2
            b2 -= gl * p2
            if bordered:
                e0 -= cd0 * q0 + cl0 * q2
                e1 -= cd1 * q1 + cl1 * q2
                e2 -= gl * q2
        # D^-1 = adj(D) / det: the products of the adjugate with the right-hand sides and B_k
        # do not wait for the division (they run while it does), which shortens the chain of
        # dependent operations from one cell to the next
        c00, c01, c02, c10, c11, c12, c20, c21, c22, det, ok = _adjugate3(
            a00, a01, a02, a10, a11, a12, a20, a21, a22
        )
        if not ok:
            return False
        inv = 1.0 / det
        p0 = (c00 * b0 + c01 * b1 + c02 * b2) * inv
        p1 = (c10 * b0 + c11 * b1 + c12 * b2) * inv
        p2 = (c20 * b0 + c21 * b1 + c22 * b2) * inv
        dy[base] = p0
        dy[base + 1] = p1
        dy[base + 2] = p2
        if bordered:
            q0 = (c00 * e0 + c01 * e1 + c02 * e2) * inv
            q1 = (c10 * e0 + c11 * e1 + c12 * e2) * inv
            q2 = (c20 * e0 + c21 * e1 + c22 * e2) * inv
            zcol[base] = q0
            zcol[base + 1] = q1
            zcol[base + 2] = q2
        if k < n_cells - 1:
            # X_k = D_k^-1 B_k; B_k: species row i -> c_i (w dF/dc_right) and psi
            # (w dF/dpsi_right) of cell k+1 through the right face; Poisson row -> psi (gr)
            bd0 = w * fdr[0, k + 1]
            bd1 = w * fdr[1, k + 1]
            bl0 = w * fdp[0, k + 1]
            bl1 = w * fdp[1, k + 1]
            x00 = (c00 * bd0) * inv
            x01 = (c01 * bd1) * inv
            x02 = (c00 * bl0 + c01 * bl1 + c02 * gr) * inv
            x10 = (c10 * bd0) * inv
            x11 = (c11 * bd1) * inv
            x12 = (c10 * bl0 + c11 * bl1 + c12 * gr) * inv
            x20 = (c20 * bd0) * inv
            x21 = (c21 * bd1) * inv
            x22 = (c20 * bl0 + c21 * bl1 + c22 * gr) * inv
            xblk[k, 0] = x00
            xblk[k, 1] = x01
            xblk[k, 2] = x02
            xblk[k, 3] = x10
            xblk[k, 4] = x11
            xblk[k, 5] = x12
            xblk[k, 6] = x20
            xblk[k, 7] = x21
            xblk[k, 8] = x22
    _back_substitute_3(xblk, dy)
    if bordered:
        _back_substitute_3(xblk, zcol)
    return True


@njit(cache=True)
def _back_substitute_3(xblk, v):
    """v_k -= X_k v_{k+1} from the next-to-last cell to the first (3 unknowns per cell)."""
    n_cells = xblk.shape[0]
    n0 = v[3 * n_cells - 3]
    n1 = v[3 * n_cells - 2]
    n2 = v[3 * n_cells - 1]
    for k in range(n_cells - 2, -1, -1):
        base = 3 * k
        n0, n1, n2 = (
            v[base] - (xblk[k, 0] * n0 + xblk[k, 1] * n1 + xblk[k, 2] * n2),
            v[base + 1] - (xblk[k, 3] * n0 + xblk[k, 4] * n1 + xblk[k, 5] * n2),
            v[base + 2] - (xblk[k, 6] * n0 + xblk[k, 7] * n1 + xblk[k, 8] * n2),
        )
        v[base] = n0
        v[base + 1] = n1
        v[base + 2] = n2


@njit(cache=True)
def newton_system_2(
    y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, c_seen, fflux, fdl, fdr, fdp,
    res, dy, jac_front, bordered, zcol, xblk,
):  # fmt: skip
    """Residual, Newton update dy = -J^-1 res and (if `bordered`) zcol = J^-1 d res/d psi_front
    of one implicit step with two species: `face_fluxes`, then `block_solve_2`; jac_front as
    in `assemble`; dval, dder, c_seen: see `face_fluxes`. Returns False if a diagonal block is
    ill-conditioned (see `block_solve_2`).
    About 3x faster than `assemble` + `banded_lu` + `banded_solve` on lbo_k: no band to clear,
    fill and factor with pivoting."""
    face_fluxes(
        y, psi_front, d, z, src, c_src, back_kind, back_c, kind, d_const, u0, du, logd, slope,
        n_lo, cref, dval, dder, c_seen, fflux, fdl, fdr, fdp,
    )  # fmt: skip
    front_jacobian(z, fflux, fdr, fdp, jac_front)
    return block_solve_2(
        y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, fflux, fdl, fdr, fdp, res, dy,
        bordered, zcol, xblk,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Time loop
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _interp(t, tab_t, tab_v):
    n = tab_t.shape[0]
    if n == 1 or t <= tab_t[0]:
        return tab_v[0]
    if t >= tab_t[n - 1]:
        return tab_v[n - 1]
    j = np.searchsorted(tab_t, t) - 1
    w = (t - tab_t[j]) / (tab_t[j + 1] - tab_t[j])
    return tab_v[j] + w * (tab_v[j + 1] - tab_v[j])


@njit(cache=True)
def _bdf_coefficients(dt, dt1, order):
    """(a0, a1, a2) of the variable-step BDF formula a0 y+ + a1 y + a2 y- = dt f(y+)."""
    if order == 1:
        return 1.0, -1.0, 0.0
    w = dt / dt1
    return (1.0 + 2.0 * w) / (1.0 + w), -(1.0 + w), w * w / (1.0 + w)


@njit(cache=True)
def milne_factor(dt, dt1, dt2):
    """Local error of a BDF2 step of size dt (previous steps dt1, dt2) as a multiple of its
    distance from the quadratic predictor: e_BDF / (e_BDF + e_pred) (Milne device), with the
    error constants e_BDF = (1 + w)^2 / (6 w (1 + 2 w)) dt^3, w = dt / dt1, and
    e_pred = dt (dt + dt1) (dt + dt1 + dt2) / 6."""
    w = dt / dt1
    e_bdf = (1.0 + w) ** 2 / (6.0 * w * (1.0 + 2.0 * w)) * dt**3
    e_pred = dt * (dt + dt1) * (dt + dt1 + dt2) / 6.0
    return e_bdf / (e_bdf + e_pred)


@njit(cache=True)
def newton_converged(e_now, e_prev, order, fs, i_kappa, ist, i_age):
    """Newton convergence test shared by the time loops (see NEWTON_KAPPA_SAFETY).

    e_now, e_prev: scaled sizes of this and the previous undamped update (e_prev <= 0: none);
    order: BDF order of the step; fs[i_kappa]: the quadratic-convergence constant kappa (0: not
    observed), updated here from (e_prev, e_now); ist[i_age]: steps accepted on the kappa
    estimate since kappa was last observed. True when e_now <= 1, or, on a BDF2 step with a
    fresh enough kappa, when the predicted next update kappa e_now^2 (times the safety factor)
    is <= 1.
    """
    if e_prev > 0.0:
        kappa_obs = max(e_now, 1.0e-300) / (e_prev * e_prev)
        fs[i_kappa] = max(kappa_obs, NEWTON_KAPPA_DECAY * fs[i_kappa])
        ist[i_age] = 0
    if e_now <= 1.0:
        return True
    kappa = fs[i_kappa]
    if (
        order == 2
        and kappa > 0.0
        and ist[i_age] < NEWTON_KAPPA_REFRESH
        and NEWTON_KAPPA_SAFETY * kappa * e_now * e_now <= 1.0
    ):
        ist[i_age] += 1
        return True
    return False


# Indices into the float state vector `fs` and the integer state vector `ist` of `advance`.
# FS_KAPPA: Newton's quadratic-convergence constant (0 = not yet observed);
# IS_KAPPA_AGE: steps accepted on the kappa estimate since it was last observed.
# FS_OVER_C, FS_OVER_T, IS_OVER_SPECIES, IS_OVER_CELL: see STATUS_OVERFULL.
# IS_BANDED: Newton iterations solved with the banded LU (all of them unless there are two
# species; with two, those where a block of `newton_system_2` was ill-conditioned).
# FS_G, FS_G1: the front field G = (U - psi_0) / d_0 (thermal units per nm) of the current and
# the previous accepted state, the history of the displacement current lam2 dG/dt of every
# step's total current; FS_G0: G at the start of the run, from which the surface charge on
# the front electrode lam2 (G - G0) is counted. The caller sets all three to G of the initial
# state; a jump of the front potential at a stage start then enters the displacement current
# of the stage's first step (so the recorded total current integrates to the total charge).
(
    FS_T, FS_DT, FS_DT1, FS_DT2, FS_Q, FS_Q1, FS_Q2, FS_U, FS_U1, FS_U2, FS_KAPPA, FS_OVER_C,
    FS_OVER_T, FS_G, FS_G1, FS_G0,
) = range(16)  # fmt: skip
(
    IS_NHIST, IS_STEPS, IS_REJECT, IS_NEWTON, IS_NREC, IS_NEWTON_FAIL, IS_LU_FAIL,
    IS_KAPPA_AGE, IS_OVER_SPECIES, IS_OVER_CELL, IS_BANDED,
) = range(11)  # fmt: skip
N_FS = 16
N_IS = 11


@njit(cache=True)
def advance(
    t_stop, y, y1, y2, fs, ist, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, c_limit, control, tab_t, tab_v, rtol, atol,
    max_steps, max_order, rec_t, rec_flux, rec_psi, rec_q, rec_total, rec_qtot,
):  # fmt: skip
    """Integrate from fs[FS_T] to t_stop with adaptive variable-step BDF2 (BE first step).

    y, y1, y2: current state and the two previous accepted states (history); fs/ist: float and
    integer solver state (time, step sizes, charge and front potential histories; history
    depth, counters). control 0: potentiostatic, tab_v = psi_front(t) (thermal units);
    control 1: galvanostatic, tab_v = total front current (fraction nm/s: ionic flux plus
    the displacement current lambda^2 dE/dt at x = 0, which the attached surface charge
    carries) and psi_front is an extra unknown (bordered Newton system). tab_t: absolute
    times (s). max_order: 2 (BDF2 with error control) or 1 (backward Euler, no error control:
    steps set by the caller). c_limit: per species the largest fraction a step may reach
    (STATUS_OVERFULL beyond). rec_*: per accepted step time, ionic front flux, front psi,
    ionic charge (fraction nm), total current (ionic flux plus the displacement current
    lam2 dG/dt by the step's BDF formula, the one the galvanostatic control holds at its target:
    in 1D the current of the external circuit) and total charge (ionic charge plus
    lam2 (G - fs[FS_G0]), the BDF integral of the total current). Returns a STATUS_* code.
    """
    status, ya, y1a, y2a = _advance_steps(
        t_stop, y, y1, y2, fs, ist, h, d, lam2, z, cfix, src, c_src, back_kind, back_c, kind,
        d_const, u0, du, logd, slope, n_lo, cref, c_limit, control, tab_t, tab_v, rtol, atol,
        max_steps, max_order, rec_t, rec_flux, rec_psi, rec_q, rec_total, rec_qtot,
    )  # fmt: skip
    # the accepted states rotate through four buffers: copy the final ones into the caller's
    a = ya.copy()
    b = y1a.copy()
    c = y2a.copy()
    # element loops, not y[:] = a: an array-to-slice copy makes numba compile its shape-mismatch
    # error message (string formatting, ~4 s of cold compile)
    for j in range(y.size):
        y[j] = a[j]
        y1[j] = b[j]
        y2[j] = c[j]
    return status


@njit(cache=True)
def _advance_steps(
    t_stop, y, y1, y2, fs, ist, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, c_limit, control, tab_t, tab_v, rtol, atol,
    max_steps, max_order, rec_t, rec_flux, rec_psi, rec_q, rec_total, rec_qtot,
):  # fmt: skip
    """`advance`, with the accepted states rotating through the buffers y, y1, y2 and a work
    buffer: returns (status, current, previous, the one before)."""
    n = y.shape[0]
    n_species = z.shape[0]
    nb = n_species + 1
    n_cells = n // nb
    kl, ku = band_widths(n_species)
    # the band is 12 doubles per unknown and only the fallback path uses it (assemble clears
    # it): not zeroed here, so that its pages are not even touched on the block path
    ab = np.empty((n, 2 * kl + ku + 1))
    ipiv = np.zeros(n, dtype=np.int64)
    res = np.zeros(n)
    dy = np.zeros(n)
    zcol = np.zeros(n)
    hist = np.zeros(n)
    ynew = np.zeros(n)
    ypred = np.zeros(n)
    dval = np.zeros((n_species, n_cells))
    dder = np.zeros((n_species, n_cells))
    dres_du = np.zeros(nb)
    jac_front = np.zeros(nb + 2)
    balance = np.zeros(n_species)
    inventory = np.zeros(n_species)
    storage = np.zeros(n_species)
    # two species: block elimination cell by cell (newton_system_2)
    use_blocks = n_species == 2
    xblk = np.empty((n_cells if use_blocks else 1, 9))  # written before it is read
    # face fluxes of both paths, and D(c) (dval, dder) kept between iterations and steps for
    # the cells whose fraction has not changed (c_seen, see update_mobilities)
    fflux = np.empty((n_species, n_cells + 1))
    fdl = np.empty((n_species, n_cells + 1))
    fdr = np.empty((n_species, n_cells + 1))
    fdp = np.empty((n_species, n_cells + 1))
    c_seen = np.full((n_species, n_cells), np.nan)
    galvanostatic = control == 1
    steps_here = 0
    # after a Newton failure the retry starts from the last accepted state with backward Euler
    # (robust: L-stable, no extrapolated guess); cleared by the next accepted step
    safe_retry = False

    while fs[FS_T] < t_stop:
        t = fs[FS_T]
        dt = fs[FS_DT]
        # land exactly on t_stop; split the last two steps evenly instead of a sliver
        if t + dt >= t_stop:
            dt = t_stop - t
        elif t + 2.0 * dt > t_stop:
            dt = 0.5 * (t_stop - t)
        if dt <= 1.0e-15 * max(1.0, abs(t)):
            return STATUS_DT_UNDERFLOW, y, y1, y2
        if steps_here >= max_steps:
            return STATUS_MAX_STEPS, y, y1, y2
        if ist[IS_NREC] >= rec_t.shape[0]:
            return STATUS_BUFFER_FULL, y, y1, y2
        nhist = ist[IS_NHIST]
        order = 1 if (nhist < 2 or max_order == 1 or safe_retry) else 2
        dt1 = fs[FS_DT1]
        dt2 = fs[FS_DT2]
        a0, a1, a2 = _bdf_coefficients(dt, dt1, order)
        tn = t + dt
        # predictor (quadratic through 3 levels, linear through 2, or constant), the BDF
        # history and the species inventories (for the balance test) in
        # one pass; the divisions by the step sizes are taken out of the loop
        if safe_retry or nhist < 2:
            mode = 0
        elif nhist >= 3:
            mode = 2
        else:
            mode = 1
        i1 = 1.0 / dt1 if mode > 0 else 0.0
        i2 = 1.0 / dt2 if mode == 2 else 0.0
        i12 = 1.0 / (dt1 + dt2) if mode == 2 else 0.0
        w1 = dt * i1
        ww = dt * (dt + dt1)
        use_y1 = order == 2
        for i in range(n_species):
            inventory[i] = 0.0
        for k in range(n_cells):
            base = k * nb
            for j in range(nb):
                r = base + j
                yr = y[r]
                if mode == 0:
                    p = yr
                elif mode == 2:
                    # Newton form through (t-dt1-dt2, y2), (t-dt1, y1), (t, y)
                    d1 = (yr - y1[r]) * i1
                    d0 = (y1[r] - y2[r]) * i2
                    p = yr + dt * d1 + ww * ((d1 - d0) * i12)
                else:
                    p = yr + w1 * (yr - y1[r])
                if j < n_species:
                    if p < 0.0:
                        p = 0.0
                    hist[r] = a1 * yr + (a2 * y1[r] if use_y1 else 0.0)
                    inventory[j] += h[k] * abs(yr)
                ypred[r] = p
                ynew[r] = p
        if galvanostatic:
            u_guess = fs[FS_U]
            if nhist >= 2 and not safe_retry:
                u_guess = fs[FS_U] + dt * (fs[FS_U] - fs[FS_U1]) / dt1
            target = _interp(tn, tab_t, tab_v)
            g_now = (fs[FS_U] - y[n_species]) / d[0]
            g_old = (fs[FS_U1] - y1[n_species]) / d[0]
            hist_g = a1 * g_now + (a2 * g_old if order == 2 else 0.0)
        else:
            hist_g = 0.0
            u_guess = _interp(tn, tab_t, tab_v)
            target = 0.0
        psi_front = u_guess
        # the local error estimate (Milne device with the quadratic predictor, fractions only)
        estimate = order == 2 and nhist >= 3
        cerr = milne_factor(dt, dt1, dt2) if estimate else 0.0
        err = 0.0
        over_k = -1
        over_i = -1

        converged = False
        lu_failed = False
        e_prev = -1.0  # scaled size of the previous undamped, unclipped update (-1: none)
        if order == 1:
            # backward-Euler steps (start, restart, retry, or no error control) iterate to
            # convergence; kappa is observed afresh on the BDF2 steps that follow
            fs[FS_KAPPA] = 0.0
        for _it in range(NEWTON_MAXITER):
            ist[IS_NEWTON] += 1
            # dy = -J^-1 res and, under current control, zcol = J^-1 dres/dpsi_front
            solved = False
            # the block path, except on the retry after a failed Newton iteration: that retry
            # (backward Euler from the last state, a quarter of the step) takes the banded LU
            # with partial pivoting, so that a step can never fail for the block path alone
            if use_blocks and not safe_retry:
                solved = newton_system_2(
                    ynew, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind,
                    back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, c_seen,
                    fflux, fdl, fdr, fdp, res, dy, jac_front, galvanostatic, zcol, xblk,
                )  # fmt: skip
            if not solved:
                ist[IS_BANDED] += 1
                assemble(
                    ynew, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind,
                    back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, res, ab,
                    dres_du, jac_front, fflux, fdl, fdr, fdp, c_seen,
                )  # fmt: skip
                if banded_lu(ab, kl, ku, ipiv) != 0:
                    lu_failed = True
                    break
                for r in range(n):
                    dy[r] = -res[r]
                banded_solve(ab, kl, ku, ipiv, dy)
                if galvanostatic:
                    zcol[:] = 0.0
                    for r in range(nb):
                        zcol[r] = dres_du[r]
                    banded_solve(ab, kl, ku, ipiv, zcol)
            dpsi_front = 0.0
            if galvanostatic:
                # bordered system: [A b; c^T e] [dy; du] = -[res; g]
                # total current = ionic + displacement lambda^2 dG/dt, G = (U - psi_0)/d_0
                # the field at the front face (thermal units per nm), in flux units
                w_front = dt / h[0]
                g_new = (psi_front - ynew[n_species]) / d[0]
                cdisp = lam2 * a0 / (dt * d[0])
                g = w_front * (jac_front[0] + lam2 * (a0 * g_new + hist_g) / dt - target)
                ct_y = 0.0
                ct_z = 0.0
                for r in range(nb):
                    cr = w_front * jac_front[1 + r]
                    if r == n_species:
                        cr -= w_front * cdisp
                    ct_y += cr * dy[r]
                    ct_z += cr * zcol[r]
                e_corner = w_front * (jac_front[nb + 1] + cdisp)
                denom = e_corner - ct_z
                if denom == 0.0 or not math.isfinite(denom):
                    lu_failed = True
                    break
                dpsi_front = (-g - ct_y) / denom
                for r in range(n):
                    dy[r] -= zcol[r] * dpsi_front
            # damping of the potential update
            dpsi_max = abs(dpsi_front)
            for k in range(n_cells):
                v = abs(dy[k * nb + n_species])
                if v > dpsi_max:
                    dpsi_max = v
            if not math.isfinite(dpsi_max):
                break
            lam = 1.0
            if dpsi_max > DPSI_MAX:
                lam = DPSI_MAX / dpsi_max
            err_c = 0.0
            finite = True
            # along with the update, in the same pass: the storage part of the species
            # balances (see conservation_residual), sum_k h_k (a0 c_k + hist_k) of the new
            # iterate, and what the step's acceptance needs if the iterate converges: its local
            # error estimate and the first fraction above its limit (the site density: outside
            # the dilute model). Fractions stay >= 0: the predictor and the update clip them.
            for i in range(n_species):
                storage[i] = 0.0
            err = 0.0
            over_k = -1
            over_i = -1
            for k in range(n_cells):
                for i in range(n_species):
                    r = k * nb + i
                    step = lam * dy[r]
                    y_abs = abs(y[r])
                    weight = atol + rtol * y_abs
                    # err_c = max |dy| / weight, dividing only where the maximum grows
                    if abs(dy[r]) > err_c * weight:
                        err_c = abs(dy[r]) / weight
                    cnew = ynew[r] + step
                    if cnew < 0.0:
                        if -cnew > NEWTON_TOL * weight:
                            # keep iterates positive: a fraction of the old value; the
                            # iteration is not converged while this clipping is needed
                            cnew = 0.1 * ynew[r] if ynew[r] > 0.0 else 0.0
                            err_c = max(err_c, 1.0e30)
                        else:
                            # round-off below the Newton tolerance of a vanishing fraction
                            cnew = 0.0
                    ynew[r] = cnew
                    storage[i] += h[k] * (a0 * cnew + hist[r])
                    if estimate:
                        wt = atol + rtol * max(cnew, y_abs)
                        v = cerr * abs(cnew - ypred[r])
                        if v > err * wt:  # divide only where the maximum grows
                            err = v / wt
                    if cnew > c_limit[i] and over_k < 0:
                        over_k = k
                        over_i = i
                r = k * nb + n_species
                ynew[r] += lam * dy[r]
                if not math.isfinite(ynew[r]):
                    finite = False
            psi_front += lam * dpsi_front
            if not finite:
                break
            if lam < 1.0 or err_c >= 1.0e30:
                e_prev = -1.0
                continue
            psi_tol = NEWTON_PSI_TOL * max(1.0, abs(psi_front))
            e_now = max(err_c / NEWTON_TOL, dpsi_max / psi_tol)
            if newton_converged(e_now, e_prev, order, fs, FS_KAPPA, ist, IS_KAPPA_AGE):
                # ...and the discrete balance of every species within Newton's tolerance
                # integrated over the cells (conservation_residual: the storage summed in the
                # update loop above, plus the boundary fluxes): O(N), no assembly
                for i in range(n_species):
                    balance[i] = storage[i] + boundary_balance(
                        ynew, i, dt, psi_front, d, z, src, c_src, back_kind, back_c, kind,
                        d_const, u0, du, logd, slope, n_lo, cref,
                    )  # fmt: skip
                balanced = True
                for i in range(n_species):
                    tol_i = NEWTON_BALANCE_TOL * a0 * (rtol * inventory[i] + atol * h[0])
                    if not abs(balance[i]) <= tol_i:
                        balanced = False
                if balanced and galvanostatic:
                    # ...and, under current control, the constraint at the iterate itself: the
                    # total current (ionic plus displacement) equals the target
                    flux_it = front_flux(
                        ynew, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope,
                        n_lo, cref,
                    )  # fmt: skip
                    psi_0 = ynew[n_species]
                    disp = lam2 * (a0 * (psi_front - psi_0) / d[0] + hist_g) / dt
                    size = abs(flux_it) + lam2 * (a0 - a1 + a2) * (
                        abs(psi_front) + abs(psi_0)
                    ) / (d[0] * dt)  # fmt: skip
                    tol_j = NEWTON_CURRENT_TOL * max(abs(target), 1.0e-3 * abs(flux_it))
                    if not abs(flux_it + disp - target) <= tol_j + CURRENT_ROUNDOFF * size:
                        balanced = False
                if balanced:
                    converged = True
                    break
            e_prev = e_now

        if lu_failed:
            ist[IS_LU_FAIL] += 1
        if not converged:
            ist[IS_NEWTON_FAIL] += 1
            ist[IS_REJECT] += 1
            fs[FS_DT] = dt * SHRINK_FAIL
            fs[FS_KAPPA] = 0.0
            safe_retry = True
            continue
        # the converged iterate: the local error estimate and fractions above their limit,
        # evaluated in the update that produced it; decided in this order
        factor = GROWTH_MAX
        if estimate:
            if err > 1.0:
                ist[IS_REJECT] += 1
                fs[FS_DT] = dt * max(SHRINK_MIN, SAFETY * err ** (-1.0 / 3.0))
                continue
            if err > 0.0:
                factor = min(GROWTH_MAX, max(SHRINK_MIN, SAFETY * err ** (-1.0 / 3.0)))
        if over_k >= 0:
            fs[FS_OVER_C] = ynew[over_k * nb + over_i]
            fs[FS_OVER_T] = tn
            ist[IS_OVER_SPECIES] = over_i
            ist[IS_OVER_CELL] = over_k
            return STATUS_OVERFULL, y, y1, y2
        # accept
        safe_retry = False
        flux = front_flux(
            ynew, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope, n_lo, cref
        )
        q_new = (dt * flux - a1 * fs[FS_Q] - (a2 * fs[FS_Q1] if order == 2 else 0.0)) / a0
        # total current: the displacement term of the galvanostatic constraint (hist_g there is
        # this history, bit for bit, since fs[FS_G] = (fs[FS_U] - y[psi_0]) / d_0)
        g_acc = (psi_front - ynew[n_species]) / d[0]
        hist_gr = a1 * fs[FS_G] + (a2 * fs[FS_G1] if order == 2 else 0.0)
        total = flux + lam2 * (a0 * g_acc + hist_gr) / dt
        fs[FS_G1] = fs[FS_G]
        fs[FS_G] = g_acc
        # the new state becomes the current one by rotating the four buffers (no copying);
        # `advance` copies the final order back into the caller's arrays
        y2, y1, y, ynew = y1, y, ynew, y2
        fs[FS_Q2] = fs[FS_Q1]
        fs[FS_Q1] = fs[FS_Q]
        fs[FS_Q] = q_new
        fs[FS_U2] = fs[FS_U1]
        fs[FS_U1] = fs[FS_U]
        fs[FS_U] = psi_front
        fs[FS_DT2] = dt1
        fs[FS_DT1] = dt
        fs[FS_T] = t_stop if dt == t_stop - t else min(tn, t_stop)
        fs[FS_DT] = dt * factor
        if nhist < 3:
            ist[IS_NHIST] = nhist + 1
        ist[IS_STEPS] += 1
        steps_here += 1
        nr = ist[IS_NREC]
        rec_t[nr] = fs[FS_T]
        rec_flux[nr] = flux
        rec_psi[nr] = psi_front
        rec_q[nr] = q_new
        rec_total[nr] = total
        rec_qtot[nr] = q_new + lam2 * (g_acc - fs[FS_G0])
        ist[IS_NREC] = nr + 1
    return STATUS_OK, y, y1, y2
