"""Compiled linear algebra of the full NPP solver (numba, cache=True): the banded LU with
partial pivoting (any number of species) and the block-tridiagonal elimination of the
two-species Newton system.

Split out of `solvers.kernels` (which re-exports every name here). Band layout: see there.
"""

from __future__ import annotations

import math

from numba import njit

#: a 3 x 3 diagonal block of the two-species elimination (`newton_system_2`) whose determinant
#: is below this fraction of the product of its row norms is treated as ill-conditioned: that
#: Newton iteration is solved by the banded LU with partial pivoting instead. On lbo_k this
#: happens in the first 22 of 1361 iterations (dt <= ~1e-4 s, where the Poisson rows of the
#: deep 20 um cells are ~1e-12 of the species rows). Beyond it the block solution's normwise
#: backward error is 1e-16 at the step sizes the run takes (dt >= 1 s on developed profiles)
#: and grows as 1 / dt (6e-10 at dt = 1e-3 s on the final lbo_k profile): an inexact Newton
#: iteration there, harmless, and a failed iteration is retried with the banded LU anyway.
BLOCK_DET_MIN = 1.0e-10


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
# Two species: the Newton system eliminated cell by cell (block tridiagonal)
# ---------------------------------------------------------------------------------------------
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
    zcol, xblk, dinv,
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
    in the same sweeps. xblk: workspace (N, 9). dinv: if it has N rows, the inverse D_k^-1 of
    every eliminated diagonal block is stored there (row-major 3 x 3), so that more right-hand
    sides can be solved with the same matrix by substitutions only (`block_substitute_2`); a
    (1, 9) array stores nothing.

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
    store = dinv.shape[0] == n_cells
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
        if store:
            dinv[k, 0] = c00 * inv
            dinv[k, 1] = c01 * inv
            dinv[k, 2] = c02 * inv
            dinv[k, 3] = c10 * inv
            dinv[k, 4] = c11 * inv
            dinv[k, 5] = c12 * inv
            dinv[k, 6] = c20 * inv
            dinv[k, 7] = c21 * inv
            dinv[k, 8] = c22 * inv
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
def block_substitute_2(dt, h, d, lam2, fdl, fdp, dinv, xblk, rhs):
    """Solve J x = rhs[m] in place for every row m of rhs (m x 3N) with the factors of the last
    `block_solve_2` that stored them (dinv: the inverted diagonal blocks D_k^-1, xblk: X_k),
    J that call's two-species Jacobian, whose face derivatives fdl, fdp (of `face_fluxes`) are
    still those of the call: forward substitution y_k = D_k^-1 (b_k - C_k y_{k-1}), then
    x_k = y_k - X_k x_{k+1}. No division and no conditioning test (the factors passed it):
    the staggered direct solve of the forward sensitivities with the Newton matrix of the
    step's last iteration, 3-4x cheaper than a new elimination."""
    n_cells = h.shape[0]
    n_rhs = rhs.shape[0]
    for k in range(n_cells):
        base = 3 * k
        m00 = dinv[k, 0]
        m01 = dinv[k, 1]
        m02 = dinv[k, 2]
        m10 = dinv[k, 3]
        m11 = dinv[k, 4]
        m12 = dinv[k, 5]
        m20 = dinv[k, 6]
        m21 = dinv[k, 7]
        m22 = dinv[k, 8]
        cd0 = cl0 = cd1 = cl1 = gl = 0.0
        if k > 0:
            w = dt / h[k]
            cd0 = -w * fdl[0, k]
            cl0 = w * fdp[0, k]
            cd1 = -w * fdl[1, k]
            cl1 = w * fdp[1, k]
            gl = lam2 / (h[k] * d[k])
        for m in range(n_rhs):
            b0 = rhs[m, base]
            b1 = rhs[m, base + 1]
            b2 = rhs[m, base + 2]
            if k > 0:
                p0 = rhs[m, base - 3]
                p1 = rhs[m, base - 2]
                p2 = rhs[m, base - 1]
                b0 -= cd0 * p0 + cl0 * p2
                b1 -= cd1 * p1 + cl1 * p2
                b2 -= gl * p2
            rhs[m, base] = m00 * b0 + m01 * b1 + m02 * b2
            rhs[m, base + 1] = m10 * b0 + m11 * b1 + m12 * b2
            rhs[m, base + 2] = m20 * b0 + m21 * b1 + m22 * b2
    for m in range(n_rhs):
        _back_substitute_3(xblk, rhs[m])
