"""Compiled block-tridiagonal elimination of the three-species Newton system of the full NPP
solver (numba, cache=True): `block_solve_3`, the 4 x 4 counterpart of
`solvers.kernels_linalg.block_solve_2` (same contract, same conditioning test).

Split from `solvers.kernels_linalg` by size; `solvers.kernels` re-exports the names.
"""

from __future__ import annotations

import math

from numba import njit

from solvers.kernels_linalg import BLOCK_DET_MIN


@njit(cache=True)
def _adjugate4(
    a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33
):  # fmt: skip
    """Adjugate (c00 .. c33, inverse = adjugate / det) and determinant of a 4 x 4 matrix, by
    the Laplace expansion along its first two rows (twelve 2 x 2 minors), and a conditioning
    flag: False when the determinant is below BLOCK_DET_MIN of the product of the row norms
    (1-norms), or not finite (the caller uses the banded LU with pivoting instead)."""
    s0 = a00 * a11 - a10 * a01
    s1 = a00 * a12 - a10 * a02
    s2 = a00 * a13 - a10 * a03
    s3 = a01 * a12 - a11 * a02
    s4 = a01 * a13 - a11 * a03
    s5 = a02 * a13 - a12 * a03
    t5 = a22 * a33 - a32 * a23
    t4 = a21 * a33 - a31 * a23
    t3 = a21 * a32 - a31 * a22
    t2 = a20 * a33 - a30 * a23
    t1 = a20 * a32 - a30 * a22
    t0 = a20 * a31 - a30 * a21
    det = (s0 * t5 - s1 * t4) + (s2 * t3 + s3 * t2) + (s5 * t0 - s4 * t1)
    n0 = abs(a00) + abs(a01) + abs(a02) + abs(a03)
    n1 = abs(a10) + abs(a11) + abs(a12) + abs(a13)
    n2 = abs(a20) + abs(a21) + abs(a22) + abs(a23)
    n3 = abs(a30) + abs(a31) + abs(a32) + abs(a33)
    ok = abs(det) > BLOCK_DET_MIN * ((n0 * n1) * (n2 * n3)) and math.isfinite(det)
    return (
        a11 * t5 - a12 * t4 + a13 * t3, -a01 * t5 + a02 * t4 - a03 * t3,
        a31 * s5 - a32 * s4 + a33 * s3, -a21 * s5 + a22 * s4 - a23 * s3,
        -a10 * t5 + a12 * t2 - a13 * t1, a00 * t5 - a02 * t2 + a03 * t1,
        -a30 * s5 + a32 * s2 - a33 * s1, a20 * s5 - a22 * s2 + a23 * s1,
        a10 * t4 - a11 * t2 + a13 * t0, -a00 * t4 + a01 * t2 - a03 * t0,
        a30 * s4 - a31 * s2 + a33 * s0, -a20 * s4 + a21 * s2 - a23 * s0,
        -a10 * t3 + a11 * t1 - a12 * t0, a00 * t3 - a01 * t1 + a02 * t0,
        -a30 * s3 + a31 * s1 - a32 * s0, a20 * s3 - a21 * s1 + a22 * s0,
        det, ok,
    )  # fmt: skip


@njit(cache=True)
def block_solve_3(
    y, hist, a0, dt, psi_front, h, d, lam2, z, cfix, fflux, fdl, fdr, fdp, res, dy, bordered,
    zcol, xblk,
):  # fmt: skip
    """Residual `res` and Newton update dy = -J^-1 res of one implicit step with three species,
    from the face fluxes of `face_fluxes`: the system of `assemble`, solved without forming
    the band (the contract of `solvers.kernels_linalg.block_solve_2`, 4 x 4 blocks).

    Unknowns per cell (c_0, c_1, c_2, psi); the Jacobian is block tridiagonal with 4 x 4
    blocks A_k (diagonal), B_k (to cell k+1), C_k (to cell k-1). Forward sweep:
    D_k = A_k - C_k X_{k-1}, X_k = D_k^-1 B_k, y_k = D_k^-1 (b_k - C_k y_{k-1}); backward:
    x_k = y_k - X_k x_{k+1}. Each D_k is inverted by its adjugate and checked (`_adjugate4`);
    returns False at the first ill-conditioned block (the caller solves that iteration with
    `assemble` and the banded LU). If `bordered`, zcol = J^-1 e, e = d res / d psi_front
    (non-zero in cell 0), is solved in the same sweeps. xblk: workspace (N, 16).

    Structure used: A_k is an arrowhead (a species row holds its own fraction and the
    potential, the Poisson row every fraction and the potential), B_k and C_k hold a diagonal
    (a species row to the same species of the neighbour) and the potential column. So
    X_k = D_k^-1 B_k is a column scaling of D_k^-1 plus one product, and C_k X_{k-1} costs
    two products per entry of a species row and one in the Poisson row. D_k itself is dense
    from the second cell on: C_k X_{k-1} brings D_{k-1}^-1 (the inverse of an arrowhead is
    dense) into every species row. Measured on the final lbo_cs_at_rb profile: the
    species-species entries off the diagonal of D_k reach 1e-3 (dt = 1e-2 s) to 0.6 (dt =
    1e2 s) of the smallest diagonal entry, and that 3 x 3 off-diagonal part has rank 3 in
    ~30 % of the cells (rank 1 where two species are absent). So no sparsity of A_k survives
    and D_k is inverted as a general 4 x 4; a Schur complement on the potential would need the
    inverse of the dense 3 x 3 species part and a second division in the chain.

    Accuracy: as `block_solve_2` (backward error ~eps / q for det / row norms = q; at most
    ~eps / BLOCK_DET_MIN). On lbo_cs_at_rb profiles the normwise backward error is ~1e-16 at
    dt = 1e4 s and grows as 1 / dt (2.7e-12 at 1 s; LAPACK's pivoted band LU 1e-16); blocks
    are flagged at dt <= 1e-3 s (deep cells). Forward errors against an extended-precision
    solution are 4e-11 to 2e-9 relative, as large as LAPACK's (2e-11 to 1.8e-9): the
    conditioning of the Jacobian, not the elimination, sets them.

    Cost: ~72 ns per cell (1221 cells: 87 us, against ~470 us for `assemble`, `banded_lu` and
    `banded_solve`), ~3x a 3 x 3 cell of `block_solve_2`. Unlike there the sweep is bound by the
    number of operations (~380 per cell), not by the chain of dependent ones: with the chain
    broken (D_k not depending on X_{k-1}) it runs only 13 % faster. Measured and not kept:
    fused multiply-add contraction (4 %), one division fewer for gl / gr (none). Like
    `block_solve_2` it calls no function that is not inlined and forms the adjugate products
    with the right-hand sides and B_k before the division.
    """
    n_cells = h.shape[0]
    z0 = z[0]
    z1 = z[1]
    z2 = z[2]
    x00 = x01 = x02 = x03 = x10 = x11 = x12 = x13 = 0.0
    x20 = x21 = x22 = x23 = x30 = x31 = x32 = x33 = 0.0
    p0 = p1 = p2 = p3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    for k in range(n_cells):
        base = 4 * k
        w = dt / h[k]
        c0 = y[base]
        c1 = y[base + 1]
        c2 = y[base + 2]
        psi = y[base + 3]
        psi_l = psi_front if k == 0 else y[base - 1]
        psi_r = 0.0 if k == n_cells - 1 else y[base + 7]
        gl = lam2 / (h[k] * d[k])
        gr = lam2 / (h[k] * d[k + 1])
        # residuals: a0 c + hist + w (F_right - F_left); q - cfix + lam2/h (psi' right - left)
        r0 = a0 * c0 + hist[base] + w * (fflux[0, k + 1] - fflux[0, k])
        r1 = a0 * c1 + hist[base + 1] + w * (fflux[1, k + 1] - fflux[1, k])
        r2 = a0 * c2 + hist[base + 2] + w * (fflux[2, k + 1] - fflux[2, k])
        r3 = z0 * c0 + z1 * c1 + z2 * c2 - cfix + gr * (psi_r - psi) - gl * (psi - psi_l)
        res[base] = r0
        res[base + 1] = r1
        res[base + 2] = r2
        res[base + 3] = r3
        # diagonal block A_k: a species row depends on its own fraction and the potential
        a00 = a0 + w * (fdl[0, k + 1] - fdr[0, k])
        a11 = a0 + w * (fdl[1, k + 1] - fdr[1, k])
        a22 = a0 + w * (fdl[2, k + 1] - fdr[2, k])
        a03 = -w * (fdp[0, k + 1] + fdp[0, k])
        a13 = -w * (fdp[1, k + 1] + fdp[1, k])
        a23 = -w * (fdp[2, k + 1] + fdp[2, k])
        a30 = z0
        a31 = z1
        a32 = z2
        a33 = -(gl + gr)
        a01 = a02 = a10 = a12 = a20 = a21 = 0.0
        b0 = -r0
        b1 = -r1
        b2 = -r2
        b3 = -r3
        e0 = e1 = e2 = e3 = 0.0
        if k == 0:
            if bordered:
                # d res / d psi_front: the front face couples cell 0 to psi_front
                e0 = w * fdp[0, 0]
                e1 = w * fdp[1, 0]
                e2 = w * fdp[2, 0]
                e3 = gl
        else:
            # C_k: species row i -> c_i (-w dF/dc_left) and psi (w dF/dpsi_right) of cell k-1
            # through the left face, Poisson row -> psi (gl)
            cd0 = -w * fdl[0, k]
            cl0 = w * fdp[0, k]
            cd1 = -w * fdl[1, k]
            cl1 = w * fdp[1, k]
            cd2 = -w * fdl[2, k]
            cl2 = w * fdp[2, k]
            # minus C_k X_{k-1} and C_k y_{k-1}
            a00 -= cd0 * x00 + cl0 * x30
            a01 -= cd0 * x01 + cl0 * x31
            a02 -= cd0 * x02 + cl0 * x32
            a03 -= cd0 * x03 + cl0 * x33
            a10 -= cd1 * x10 + cl1 * x30
            a11 -= cd1 * x11 + cl1 * x31
            a12 -= cd1 * x12 + cl1 * x32
            a13 -= cd1 * x13 + cl1 * x33
            a20 -= cd2 * x20 + cl2 * x30
            a21 -= cd2 * x21 + cl2 * x31
            a22 -= cd2 * x22 + cl2 * x32
            a23 -= cd2 * x23 + cl2 * x33
            a30 -= gl * x30
            a31 -= gl * x31
            a32 -= gl * x32
            a33 -= gl * x33
            b0 -= cd0 * p0 + cl0 * p3
            b1 -= cd1 * p1 + cl1 * p3
            b2 -= cd2 * p2 + cl2 * p3
            b3 -= gl * p3
            if bordered:
                e0 -= cd0 * q0 + cl0 * q3
                e1 -= cd1 * q1 + cl1 * q3
                e2 -= cd2 * q2 + cl2 * q3
                e3 -= gl * q3
        (
            c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33,
            det, ok,
        ) = _adjugate4(
            a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33
        )  # fmt: skip
        if not ok:
            return False
        inv = 1.0 / det
        p0 = (c00 * b0 + c01 * b1 + c02 * b2 + c03 * b3) * inv
        p1 = (c10 * b0 + c11 * b1 + c12 * b2 + c13 * b3) * inv
        p2 = (c20 * b0 + c21 * b1 + c22 * b2 + c23 * b3) * inv
        p3 = (c30 * b0 + c31 * b1 + c32 * b2 + c33 * b3) * inv
        dy[base] = p0
        dy[base + 1] = p1
        dy[base + 2] = p2
        dy[base + 3] = p3
        if bordered:
            q0 = (c00 * e0 + c01 * e1 + c02 * e2 + c03 * e3) * inv
            q1 = (c10 * e0 + c11 * e1 + c12 * e2 + c13 * e3) * inv
            q2 = (c20 * e0 + c21 * e1 + c22 * e2 + c23 * e3) * inv
            q3 = (c30 * e0 + c31 * e1 + c32 * e2 + c33 * e3) * inv
            zcol[base] = q0
            zcol[base + 1] = q1
            zcol[base + 2] = q2
            zcol[base + 3] = q3
        if k < n_cells - 1:
            # X_k = D_k^-1 B_k; B_k: species row i -> c_i (w dF/dc_right) and psi
            # (w dF/dpsi_right) of cell k+1 through the right face; Poisson row -> psi (gr)
            bd0 = w * fdr[0, k + 1]
            bd1 = w * fdr[1, k + 1]
            bd2 = w * fdr[2, k + 1]
            bl0 = w * fdp[0, k + 1]
            bl1 = w * fdp[1, k + 1]
            bl2 = w * fdp[2, k + 1]
            # the diagonal of B_k scaled first: 3 products instead of 12 (4 % faster)
            s0 = bd0 * inv
            s1 = bd1 * inv
            s2 = bd2 * inv
            x00 = c00 * s0
            x01 = c01 * s1
            x02 = c02 * s2
            x03 = (c00 * bl0 + c01 * bl1 + c02 * bl2 + c03 * gr) * inv
            x10 = c10 * s0
            x11 = c11 * s1
            x12 = c12 * s2
            x13 = (c10 * bl0 + c11 * bl1 + c12 * bl2 + c13 * gr) * inv
            x20 = c20 * s0
            x21 = c21 * s1
            x22 = c22 * s2
            x23 = (c20 * bl0 + c21 * bl1 + c22 * bl2 + c23 * gr) * inv
            x30 = c30 * s0
            x31 = c31 * s1
            x32 = c32 * s2
            x33 = (c30 * bl0 + c31 * bl1 + c32 * bl2 + c33 * gr) * inv
            xblk[k, 0] = x00
            xblk[k, 1] = x01
            xblk[k, 2] = x02
            xblk[k, 3] = x03
            xblk[k, 4] = x10
            xblk[k, 5] = x11
            xblk[k, 6] = x12
            xblk[k, 7] = x13
            xblk[k, 8] = x20
            xblk[k, 9] = x21
            xblk[k, 10] = x22
            xblk[k, 11] = x23
            xblk[k, 12] = x30
            xblk[k, 13] = x31
            xblk[k, 14] = x32
            xblk[k, 15] = x33
    _back_substitute_4(xblk, dy)
    if bordered:
        _back_substitute_4(xblk, zcol)
    return True


@njit(cache=True)
def _back_substitute_4(xblk, v):
    """v_k -= X_k v_{k+1} from the next-to-last cell to the first (4 unknowns per cell)."""
    n_cells = xblk.shape[0]
    n0 = v[4 * n_cells - 4]
    n1 = v[4 * n_cells - 3]
    n2 = v[4 * n_cells - 2]
    n3 = v[4 * n_cells - 1]
    for k in range(n_cells - 2, -1, -1):
        base = 4 * k
        n0, n1, n2, n3 = (
            v[base] - (xblk[k, 0] * n0 + xblk[k, 1] * n1 + xblk[k, 2] * n2 + xblk[k, 3] * n3),
            v[base + 1] - (xblk[k, 4] * n0 + xblk[k, 5] * n1 + xblk[k, 6] * n2 + xblk[k, 7] * n3),
            v[base + 2] - (xblk[k, 8] * n0 + xblk[k, 9] * n1 + xblk[k, 10] * n2 + xblk[k, 11] * n3),
            v[base + 3]
            - (xblk[k, 12] * n0 + xblk[k, 13] * n1 + xblk[k, 14] * n2 + xblk[k, 15] * n3),
        )
        v[base] = n0
        v[base + 1] = n1
        v[base + 2] = n2
        v[base + 3] = n3
