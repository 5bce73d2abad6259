"""State layout of the full NPP solver's compiled time loop (`solvers.kernels.advance`): the
indices of its float and integer state vectors, the rows of the scalar history, a fresh state,
and the restart and rescaling of the multistep histories (state, scalars and forward
sensitivities). Split out of `solvers.kernels` (which re-exports every name here).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from solvers.bdf import MAX_ORDER, N_DIFF, rescale, rescale_columns, rescale_matrix, restart

# Indices into the float state vector `fs` and the integer state vector `ist` of `advance`.
# FS_T: time (s) of the current state; FS_DT: the step size (s) the history is scaled for (the
# next step's size unless a stop time shortens it); FS_KAPPA: Newton's quadratic-convergence
# constant (0 = not yet observed); FS_OVER_C, FS_OVER_T, IS_OVER_SPECIES, IS_OVER_CELL: see
# STATUS_OVERFULL; FS_G0: the front field G = (U - psi_0) / d_0 (thermal units per nm) at the
# start of the run, from which the surface charge on the front electrode lam2 (G - G0) is counted;
# FS_DT_WANT: the step size the control chose before a stop time shortened it (0: none), restored
# after the step that lands on the stop, so that output times cost steps but not order or size.
# IS_NHIST: accepted states since the last restart, the restart point included (1: no slope
# known, the first step has no error estimate); IS_ORDER: the BDF order of the next step;
# IS_NEQUAL: steps taken since the step size or order last changed; IS_NSTOP, IS_NSNAP: the
# next stop time of the stage and the snapshots taken in it (see `advance`); IS_KAPPA_AGE: steps
# accepted on the kappa estimate since it was last observed; IS_BANDED: Newton iterations solved
# with the banded LU (all of them unless there are two or three species; with these, those where
# a block of `newton_system_2` / `_3` was ill-conditioned, and the retries after a failure);
# IS_ORDER_STEPS + k: accepted steps of order k. IS_NACT: the cells of the active window (see
# `solvers.kernels.advance`; all of them without a window); IS_CELL_ITER: active cells summed
# over the Newton iterations.
(FS_T, FS_DT, FS_KAPPA, FS_OVER_C, FS_OVER_T, FS_G0, FS_DT_WANT) = range(7)  # fmt: skip
(
    IS_NHIST, IS_STEPS, IS_REJECT, IS_NEWTON, IS_NREC, IS_NEWTON_FAIL, IS_LU_FAIL,
    IS_KAPPA_AGE, IS_OVER_SPECIES, IS_OVER_CELL, IS_BANDED, IS_ORDER, IS_NEQUAL,
    IS_NSTOP, IS_NSNAP, IS_ORDER_STEPS,
) = range(16)  # fmt: skip
N_FS = 7
IS_NACT = IS_ORDER_STEPS + MAX_ORDER + 1
IS_CELL_ITER = IS_NACT + 1
N_IS = IS_CELL_ITER + 1
# Rows of the scalar history `dsc` (N_DIFF x 3, differences as the state's, see solvers.bdf):
# SC_Q: the ionic charge passed (fraction nm, the BDF integral of the front flux); SC_G: the
# front field G (the history of the displacement current lam2 dG/dt of every step's total
# current); SC_U: the front potential (thermal units; the unknown under current control).
SC_Q, SC_G, SC_U = 0, 1, 2
N_SC = 3


def new_state(y, dt_s, psi_front, g0):
    """Fresh solver state for `advance` at the state y (interleaved scaled unknowns): returns
    (dd, dsc, fs, ist) with the history restarted (order 1, constant predictor), the step size
    dt_s (s), the front potential psi_front (thermal units) and the front field g0 (thermal
    units per nm: the reference of the electrode charge and the displacement-current history)."""
    dd = np.zeros((N_DIFF, y.size))
    dd[0] = y
    dsc = np.zeros((N_DIFF, N_SC))
    dsc[0, SC_G] = g0
    dsc[0, SC_U] = psi_front
    fs = np.zeros(N_FS)
    fs[FS_DT] = dt_s
    fs[FS_G0] = g0
    ist = np.zeros(N_IS, dtype=np.int64)
    ist[IS_NHIST] = 1
    ist[IS_ORDER] = 1
    return dd, dsc, fs, ist


def restart_history(dd, dsc, ist, keep_slope, sd=None):
    """Restart the multistep history at the current state (order 1): at a stage start
    (keep_slope False: constant predictor, no error estimate on the first step) or at a kink
    of a control table (keep_slope True: the last slope is kept as the predictor and the error
    estimate stays on, so the step size is not lost)."""
    restart(dd, keep_slope)
    restart(dsc, keep_slope)
    for q in range(0 if sd is None else sd.shape[0]):
        restart(sd[q], keep_slope)
    ist[IS_NHIST] = min(int(ist[IS_NHIST]), 2) if keep_slope else 1
    ist[IS_ORDER] = 1
    ist[IS_NEQUAL] = 0


@njit(cache=True)
def newton_start(ynew, y, ypred, h, from_last, n_species, inventory):
    """The first Newton iterate of a step on the cells of ynew (interleaved unknowns): the
    predictor ypred (the last accepted state y if from_last: a retry), its fractions clipped at
    0; and inventory[i] = sum_k h_k |c_ik| of the last state (fraction nm, the scale of the
    balance test), h: cell widths (nm). Over the cells solved: with the active window the
    native species' balance is tested against its inventory in the window, not in the whole
    sample (where a 500 um bulk made the test nearly vacuous for it); no Newton count of the
    shipped cases changed."""
    nb = n_species + 1
    for i in range(n_species):
        inventory[i] = 0.0
    for k in range(ynew.shape[0] // nb):
        base = k * nb
        for j in range(nb):
            r = base + j
            p = y[r] if from_last else ypred[r]
            if j < n_species:
                if p < 0.0:
                    p = 0.0
                inventory[j] += h[k] * abs(y[r])
            ynew[r] = p


@njit(cache=True)
def _rescale_all(dd, dsc, sd, order, factor, fs, m_cols):
    """Change the step size of every history by `factor`: the state's first m_cols columns (the
    active window's unknowns; the others are rebuilt from the window's last potential when
    needed, see `solvers.kernels.advance`), the scalars', and the sensitivities' first m_cols
    columns and their last one (the front field's)."""
    rescale(dd, order, factor, m_cols)
    rescale(dsc, order, factor, dsc.shape[1])
    n_sens = sd.shape[0]
    if n_sens > 0 and factor != 1.0:
        ru = rescale_matrix(order, factor)
        n_col = sd.shape[2]
        for q in range(n_sens):
            if m_cols + 1 == n_col:
                rescale_columns(sd[q], order, ru, 0, n_col)
            else:
                rescale_columns(sd[q], order, ru, 0, m_cols)
                rescale_columns(sd[q], order, ru, n_col - 1, n_col)
    fs[FS_DT] *= factor
