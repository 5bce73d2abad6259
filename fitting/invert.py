"""Inversion of depth profiles for the native D(n) (MODEL.md section 10; ``nppsim invert``).

The paper's primary observable, D_native(n), is fitted as a free-form monotone curve
(`sed.MonotoneLogDCurve`): log10 D at knots f_1 < ... < f_K < 1 (fractions of n_ref), PCHIP in
between, pinned to D_ref (the species' ``D_cm2_s``) at n_ref, log-linear below f_1. The curve is
parameterised by the non-negative increments a_k = y_{k+1} - y_k of y = log10 D going down
from n_ref (a_k in decades, bounded by [0, INCREMENT_MAX_DECADES]), so every trial curve is
monotone. It enters the simulation as a dense ``D_table`` of the species; the forward model is
`fitting.forward.ForwardModel` (depth resolution, residuals), unchanged.

Objective: the weighted residuals of every data block of every case, plus regularisation rows
sqrt(lambda) * (second differences of y over the consecutive nodes f_1..f_K, n_ref), minimised
jointly with the freed case keys (`fitting.parameters`: the foreign D's, any numeric key) by
scipy's trust-region-reflective least squares. The default knots are uniform in the Gaussian
quantile z = Phi^-1((1 - v) f) of the site filling (`default_knots`), so a Gaussian SED of any
width has zero second differences: where the profiles are silent about D(n) (wherever D_native
>> D_foreign, the native ions' mobility hardly shapes the profiles) the regularisation prefers a
Gaussian landscape, and the data bend the curve away from it where they can. By default all
cases share one curve; ``split_below=F`` gives each case its own increments at the knots below
F (the 2024 paper: identical curves for n >= 0.4, different below).

lambda is chosen by generalised cross-validation (GCV, Craven & Wahba 1979) on the Gauss-Newton
linearisation at the optimum: GCV(lambda) = N |r_lin(lambda)|^2 / (N - tr H(lambda))^2 with
H = J (J^T J + lambda M^T M)^-1 J^T over the parameters not held at a bound, evaluated on
LAMBDA_GRID without new simulations, with the one-standard-error rule (`gcv_choice`: the
largest lambda within sqrt(2/N) of the minimum score, the smoothest curve the data cannot tell
from the best). The fit is repeated at the chosen lambda when it moved by more than
LAMBDA_REFIT_FACTOR (at most LAMBDA_ROUNDS fits), starting from the linearised solution at that
lambda. Cost savers: the freed keys are fitted first with the starting curve held (a key such as
a foreign D re-simulates only its own case), and the first fit, which only places lambda, stops
at FTOL_FIRST.

Band (68 %): the covariance reduced_chi2 (J_a^T J_a)^-1 of the augmented Jacobian J_a (data and
regularisation rows) at the optimum, propagated to log10 D at every output fraction (and to the
PSED FWHM) by the gradient of the curve. Where J_a is singular (a parameter the data and the
regularisation leave undetermined) a parametric bootstrap of the linearised, bounded problem
(BOOTSTRAP_DRAWS draws, 16th..84th percentiles) replaces it.

valid_range: the lowest and highest native fraction (of n_ref) of the best-fit simulated profile
within the depth window of the data (per case, and their union).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.optimize import least_squares

from fitting.forward import FAILED_RESIDUAL, ForwardModel, ModelProfile, as_case_list
from fitting.inversion_result import CurveResult, InversionResult, psed_summary
from fitting.knots import (
    KnotLayout,
    active_mask,
    bootstrap_draws,
    check_knots,
    curve_gradient,
    default_knots,
    gcv_choice,
    gcv_curve,
    linearised_step,
    lowest_fraction,
    start_theta,
)
from fitting.parameters import FreeParameter, case_values, expand_parameters
from fitting.result import FittedParameter
from nppsim.case import Case
from nppsim.case.reader import is_validated, mark_validated
from nppsim.errors import InputError, SimulationError
from sed import MonotoneLogDCurve

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_KNOTS", "default_knots", "invert"]

#: knots when none are given
DEFAULT_KNOTS = 6
#: finite-difference step of least_squares (relative; ~0.003-0.03 decades of D): large against
#: the solver's tolerance noise (~1e-5 in fractions), small against the curvature
DIFF_STEP = 3.0e-3
#: stopping tolerances: a relative change of chi^2 of 1e-5 is ~0.01 for a few hundred points,
#: far below its statistical spread sqrt(2 N)
FTOL = 1.0e-5
XTOL = 1.0e-5
#: ftol of the first fit when lambda is chosen (refitted at the chosen lambda if it moves)
FTOL_FIRST = 1.0e-3
#: the criterion that chooses lambda (reported in the result)
CRITERION = "GCV (generalised cross-validation, linearised at the optimum)"
#: first lambda, and the grid on which GCV is evaluated (chi^2 units per decade^2)
LAMBDA_START = 1.0e3
LAMBDA_GRID = np.logspace(-3.0, 5.0, 81)
#: refit while the GCV optimum moves by more than this factor, at most LAMBDA_ROUNDS fits
LAMBDA_REFIT_FACTOR = 3.0
LAMBDA_ROUNDS = 2
#: singular values below this fraction of the largest mean an undetermined direction
SINGULAR_RTOL = 1.0e-8
#: output fractions per curve
N_OUTPUT = 200
#: vacancy fraction (knot placement, PSED) of a species without an SED (MODEL.md's default)
DEFAULT_VACANCY_FRACTION = 0.10


class _Problem:
    """Residuals (data, then regularisation) as a function of theta; tracks simulations."""

    def __init__(self, model, layout, params, species, y_ref, d_ref, n_refs, progress):
        self.model: ForwardModel = model
        self.layout: KnotLayout = layout
        self.params: Sequence[FreeParameter] = params
        self.species = species
        self.y_ref = y_ref
        self.d_ref = d_ref
        self.n_refs = n_refs
        self.lam = LAMBDA_START
        self.progress = progress
        self.best = math.inf
        self.nfev = 0

    def curves(self, theta: np.ndarray) -> list[MonotoneLogDCurve]:
        return [
            MonotoneLogDCurve(
                self.layout.knots, self.layout.y(theta, c, self.y_ref), self.d_ref, self.n_refs[c]
            )
            for c in range(self.layout.n_cases)
        ]

    def values(self, theta: np.ndarray) -> list[float]:
        u = theta[self.layout.n_inc :]
        return [p.from_internal(x) for p, x in zip(self.params, u, strict=True)]

    def cases(self, theta: np.ndarray) -> list[Case]:
        per_case = case_values(self.params, self.values(theta), len(self.model.cases))
        cases = self.model.cases_with(per_case)
        out = []
        for case, curve in zip(cases, self.curves(theta), strict=True):
            # the rows are valid by construction (increasing n from 0, D > 0): replace the
            # species' table directly instead of revalidating the case in every evaluation
            species = tuple(
                dataclasses.replace(sp, D_table=curve.table_rows()) if sp.name == self.species
                else sp
                for sp in case.species
            )  # fmt: skip
            # valid as `case` is (the rows by construction): simulate need not validate again
            new = dataclasses.replace(case, species=species)
            out.append(mark_validated(new) if is_validated(case) else new)
        return out

    def data_residuals(self, theta: np.ndarray) -> tuple[np.ndarray, list[ModelProfile] | None]:
        try:
            profiles = self.model.profiles(self.cases(theta))
            r = self.model.residual_vector(profiles)
        except (SimulationError, InputError, ValueError) as exc:
            self.model.last_error = str(exc)
            return np.full(self.model.n_points, FAILED_RESIDUAL), None
        if not np.all(np.isfinite(r)):
            return np.full(self.model.n_points, FAILED_RESIDUAL), None
        return r, profiles

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        r, _ = self.data_residuals(np.asarray(theta, dtype=float))
        reg = math.sqrt(self.lam) * (self.layout.M @ theta)
        self.nfev += 1
        chi2 = float(r @ r + reg @ reg)
        self.best = min(self.best, chi2)
        if self.progress is not None:
            self.progress(self.model.n_simulations, self.best)
        return np.concatenate([r, reg])


def _solve(problem: _Problem, theta0: np.ndarray, max_nfev: int, tol: float = FTOL):
    lo, hi = problem.layout.bounds()
    return least_squares(
        problem,
        np.clip(theta0, lo, hi),
        bounds=(lo, hi),
        method="trf",
        diff_step=DIFF_STEP,
        ftol=tol,
        xtol=XTOL,
        gtol=1.0e-10,
        max_nfev=max_nfev,
    )


def _prefit_keys(problem: _Problem, theta: np.ndarray, max_nfev: int) -> np.ndarray:
    """theta with the freed keys fitted while the starting curve is held: a cheap first stage
    (a key such as a foreign D re-simulates only its own case), from which the joint fit
    needs fewer iterations of its costlier Jacobian."""
    n_inc = problem.layout.n_inc
    fixed = theta.copy()

    def residuals(u: np.ndarray) -> np.ndarray:
        full = fixed.copy()
        full[n_inc:] = u
        return problem(full)

    res = least_squares(
        residuals, np.clip(theta[n_inc:], 0.0, 1.0), bounds=(0.0, 1.0), method="trf",
        diff_step=DIFF_STEP, ftol=FTOL_FIRST, xtol=XTOL, max_nfev=max_nfev,
    )  # fmt: skip
    out = theta.copy()
    out[n_inc:] = res.x
    return out


def _valid_range(
    profiles: Sequence[ModelProfile], blocks: Sequence, native: str, n_refs: Sequence[float]
) -> list[list[float]]:
    """Per case [lowest, highest] native fraction (of n_ref) of the best-fit simulated profile
    within the depth window of its data blocks (NaN when no block)."""
    out = [[math.inf, -math.inf] for _ in n_refs]
    for p, b in zip(profiles, blocks, strict=True):
        c = b.case_index
        if native not in p.sim or not len(p.depth_nm):
            continue
        lo, hi = float(np.min(p.depth_nm)), float(np.max(p.depth_nm))
        inside = (p.sim_depth_nm >= lo) & (p.sim_depth_nm <= hi)
        vals = p.sim[native][inside] / n_refs[c]
        if vals.size:
            out[c][0] = min(out[c][0], float(np.min(vals)))
            out[c][1] = max(out[c][1], float(np.max(vals)))
    return [[max(lo, 0.0), min(hi, 1.0)] if lo <= hi else [math.nan, math.nan] for lo, hi in out]


def invert(
    cases: Case | Sequence[Case],
    species: str = "Li",
    knots: int | Sequence[float] = DEFAULT_KNOTS,
    split_below: float | None = None,
    free: Sequence[str] = (),
    shared: Sequence[str] = (),
    *,
    regularization: float | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    method: str = "electroneutral",
    resolution: Mapping[tuple[int, int], object] | None = None,
    species_weights: Mapping[str, float] | None = None,
    max_nfev: int = 60,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> InversionResult:
    """Invert measured profiles for the native D(n) (and freed case keys) jointly.

    cases: one case or several with ``[[data]]`` blocks; species: the native species whose
    D(n) is inverted (its ``D_cm2_s`` is D_ref, pinned at its pristine fraction n_ref);
    knots: number of knots (placed by `default_knots` from the lowest native fraction of the
    data, at least `fitting.knots.KNOT_FLOOR`, towards 1) or the knot fractions themselves,
    in (0, 1] (a knot at 1 is the pinned n_ref); split_below: fraction F in (0, 1): each
    case gets its own curve below F (None: one curve for all cases); free, shared, bounds:
    freed case keys as in `fitting.fit.fit` (e.g. ``species.K.D_cm2_s``;
    ``species.*.D_cm2_s`` frees every species' D but the inverted one); regularization:
    lambda (fixed), or None to choose it by GCV with the one-standard-error rule (module
    docstring); method: solver ("electroneutral", fast, or "npp"); resolution,
    species_weights: as in `fitting.fit.fit`; max_nfev: least-squares evaluations per fit;
    seed: of the bootstrap fallback; progress: called as progress(n_simulations, best
    objective).

    Returns an InversionResult (``.save("inv.json")``). Raises InputError (one line) for bad
    input: unknown or non-native species, knots outside (0, 1] or fewer than 2, split_below
    outside (0, 1), no data block, a freed key of the inverted D(n).
    """
    t0 = time.perf_counter()
    case_list = as_case_list(cases)
    if not case_list:
        raise InputError("invert: no case given")
    if method not in ("npp", "electroneutral"):
        raise InputError(f"invert: unknown solver {method!r} (use 'electroneutral' or 'npp')")
    for case in case_list:
        label = case.path or case.meta.name
        sp = next((s for s in case.species if s.name == species), None)
        if sp is None:
            names = ", ".join(case.species_names)
            raise InputError(f"--species {species}: no such species in {label} ({names})")
        if sp.role != "native":
            raise InputError(f"--species {species}: not a native species in {label}")
    sp0 = next(s for s in case_list[0].species if s.name == species)
    d_ref = sp0.D_cm2_s
    for case in case_list[1:]:
        other = next(s for s in case.species if s.name == species).D_cm2_s
        if not math.isclose(other, d_ref, rel_tol=1e-12):
            raise InputError(
                f"--species {species}: D_cm2_s (D_ref) differs between the cases "
                f"({d_ref:g} and {other:g} cm^2/s): one glass, one D_ref"
            )
    knot_spec = check_knots(knots)
    if split_below is not None and not (0.0 < float(split_below) < 1.0):
        raise InputError(f"--split-below: must lie in (0, 1), got {split_below}")
    pinned = (f"species.{species}.sed", f"species.{species}.D_table", f"species.{species}.D_cm2_s")
    for item in [*free, *shared]:
        key = item.split("=")[0].strip()
        if key.startswith(pinned) or key.startswith("species.*.sed"):
            raise InputError(
                f"--free {key}: the D(n) of {species} is the inverted curve (D_ref pinned); "
                "free other keys"
            )
    start_rows = {}
    for case in case_list:
        sp = next(s for s in case.species if s.name == species)
        # validated once with a two-point table; the curve's rows replace it in every evaluation
        start_rows[case.meta.name] = ((0.0, d_ref), (sp.initial_fraction, d_ref))
    model = ForwardModel(
        [
            c.with_values(
                {f"species.{species}.D_table": start_rows[c.meta.name], "solver.n_output": 1}
            )
            for c in case_list
        ],
        method,
        resolution,
        species_weights,
    )
    params = expand_parameters(case_list, free, shared, bounds) if free or shared else ()
    # a wildcard (species.*.D_cm2_s) also matches the inverted species: its D_ref stays pinned
    params = tuple(p for p in params if not p.key.startswith(pinned))
    n_refs = [next(s for s in c.species if s.name == species).initial_fraction for c in case_list]
    vac = sp0.sed.vacancy_fraction if sp0.sed is not None else DEFAULT_VACANCY_FRACTION
    if isinstance(knot_spec, int):
        knot_x = default_knots(knot_spec, lowest_fraction(model, species, n_refs), vac)
    else:
        knot_x = knot_spec
    if split_below is not None and not np.any(knot_x < split_below):
        raise InputError(f"--split-below {split_below}: no knot lies below it")
    layout = KnotLayout(knot_x, len(case_list), split_below, len(params))
    if model.n_points <= layout.size:
        raise InputError(
            f"invert: {model.n_points} data points cannot determine {layout.size} parameters"
        )
    y_ref = math.log10(d_ref)
    problem = _Problem(model, layout, params, species, y_ref, d_ref, n_refs, progress)
    theta = start_theta(case_list, species, layout, params, y_ref, n_refs)

    warnings: list[str] = []
    rounds: list[dict] = []
    gcv = np.full(LAMBDA_GRID.size, math.nan)
    criterion = "fixed" if regularization is not None else CRITERION
    problem.lam = float(regularization) if regularization is not None else LAMBDA_START
    if not (math.isfinite(problem.lam) and problem.lam >= 0.0):
        raise InputError(f"--lambda: must be finite and >= 0, got {problem.lam}")
    res = None
    message = "done"
    interrupted = False
    try:
        if params:
            theta = _prefit_keys(problem, theta, max_nfev)
        for round_ in range(LAMBDA_ROUNDS if regularization is None else 1):
            # a first fit that only serves to place lambda stops earlier (the GCV step is
            # linearised anyway); the fit that is kept runs to FTOL
            tol = FTOL if regularization is not None or round_ > 0 else FTOL_FIRST
            res = _solve(problem, theta, max_nfev, tol)
            theta = res.x
            message = str(res.message)
            N = model.n_points
            J, r = res.jac[:N], res.fun[:N]
            rounds.append({"lambda": problem.lam, "chi2": float(r @ r), "nfev": int(res.nfev)})
            if regularization is not None:
                break
            free_mask = ~active_mask(theta, layout)
            gcv = gcv_curve(J, r, layout.M, theta, free_mask, LAMBDA_GRID)
            lam_new = gcv_choice(LAMBDA_GRID, gcv, N)
            log.info("lambda %.3g -> GCV optimum %.3g", problem.lam, lam_new)
            if abs(math.log(lam_new / problem.lam)) <= math.log(LAMBDA_REFIT_FACTOR):
                if tol != FTOL:  # lambda stays: finish the loose first fit
                    res = _solve(problem, theta, max_nfev, FTOL)
                    theta = res.x
                    message = str(res.message)
                    rounds.append(
                        {"lambda": problem.lam, "chi2": float(res.fun[:N] @ res.fun[:N]),
                         "nfev": int(res.nfev)}
                    )  # fmt: skip
                break
            if round_ == LAMBDA_ROUNDS - 1:
                warnings.append(
                    f"the GCV optimum ({lam_new:.3g}) moved again after {LAMBDA_ROUNDS} fits; "
                    f"the curve is the fit with lambda = {problem.lam:.3g}"
                )
                break
            # start the refit from the linearised solution at the new lambda (clipped to the
            # bounds): the data directions are already fitted, the smoothing step is linear
            lo, hi = layout.bounds()
            step = linearised_step(J, r, layout.M, theta, free_mask, lam_new)
            theta = np.clip(theta + step, lo, hi)
            problem.lam = lam_new
    except KeyboardInterrupt:
        interrupted = True
        message = f"interrupted by the user after {model.n_simulations} simulations"
        warnings.append("inversion interrupted: the curve is the last completed fit")

    r_data, profiles = problem.data_residuals(theta)
    failed = profiles is None
    if failed:
        warnings.append(f"the best point failed to simulate: {model.last_error}")
    N = model.n_points
    chi2 = float(r_data @ r_data)
    dof = max(N - layout.size, 1)
    red = chi2 / dof

    # covariance of theta from the augmented Jacobian at the optimum
    band_method = "jacobian"
    cov = np.full((layout.size, layout.size), math.nan)
    draws: np.ndarray | None = None
    if res is not None and not failed:
        Ja = np.asarray(res.jac, dtype=float)
        s = np.linalg.svd(Ja, compute_uv=False)
        singular = s.size == 0 or s[-1] <= SINGULAR_RTOL * s[0]
        if singular:
            band_method = "bootstrap (linearised, bounded; the Jacobian is singular)"
            warnings.append("singular Jacobian: band from a bootstrap of the linearised problem")
            draws = bootstrap_draws(Ja[:N], r_data, layout, theta, problem.lam, red, seed)
        else:
            cov = red * np.linalg.inv(Ja.T @ Ja)

    # freed case keys
    fitted = []
    for i, p in enumerate(params):
        j = layout.n_inc + i
        u = theta[j]
        if draws is not None:
            vals = [p.from_internal(x) for x in draws[:, j]]
            stderr = float(np.std(vals))
        else:
            stderr = float(abs(p.derivative(u)) * math.sqrt(max(cov[j, j], 0.0)))
        at_bound = bool(u <= 1e-4 or u >= 1.0 - 1e-4)
        if at_bound:
            warnings.append(f"{p.label} is at a bound: widen its bounds")
        fitted.append(
            FittedParameter(
                key=p.key, case=p.case if len(case_list) > 1 else None,
                value=p.from_internal(u), stderr=stderr, low=p.low, high=p.high,
                at_bound=at_bound, log=p.log, initial=p.initial,
            )
        )  # fmt: skip

    names = [c.meta.name for c in case_list]
    valid = (
        _valid_range(profiles, model.blocks, species, n_refs)
        if profiles
        else [[math.nan, math.nan] for _ in case_list]
    )
    T = case_list[0].sample.temperature_K
    lows = [v[0] for v in valid if math.isfinite(v[0])]
    f_lo = min([float(knot_x[0]), *lows])
    fraction = np.linspace(f_lo, 1.0, N_OUTPUT)

    def curve_of(th: np.ndarray, c: int) -> MonotoneLogDCurve:
        return MonotoneLogDCurve(knot_x, layout.y(th, c, y_ref), d_ref, n_refs[c])

    curves = []
    n_cur = len(case_list) if split_below is not None else 1
    for c in range(n_cur):
        vr = valid[c] if split_below is not None else _union(valid)
        y = curve_of(theta, c).log10_D_of_fraction(fraction)
        psed_range = _psed_fractions(vr, fraction)
        summary = psed_summary(curve_of(theta, c), d_ref, T, n_refs[c], vac, fraction, psed_range)
        if draws is not None:
            ys = np.array([curve_of(th, c).log10_D_of_fraction(fraction) for th in draws])
            lo, hi = np.percentile(ys, [15.865, 84.135], axis=0)
            lo, hi = np.minimum(lo, y), np.maximum(hi, y)  # the band holds the curve
            fw = [psed_summary(curve_of(th, c), d_ref, T, n_refs[c], vac, None, psed_range)
                  ["fwhm_eV"] for th in draws[:50]]  # fmt: skip
            summary["fwhm_stderr_eV"] = float(np.std(fw))
            knot_err = np.std([layout.y(th, c, y_ref) for th in draws], axis=0)
        else:
            G = curve_gradient(lambda th, c=c: curve_of(th, c).log10_D_of_fraction(fraction), theta)
            sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, cov, G), 0.0))
            lo, hi = y - sd, y + sd
            g = curve_gradient(
                lambda th, c=c, pr=psed_range: np.array([psed_summary(
                    curve_of(th, c), d_ref, T, n_refs[c], vac, None, pr)["fwhm_eV"]]),
                theta,
            )  # fmt: skip
            summary["fwhm_stderr_eV"] = float(math.sqrt(max(float(g[0] @ cov @ g[0]), 0.0)))
            Tk = layout.T[c]
            knot_err = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Tk, cov, Tk), 0.0))
        curves.append(
            CurveResult(
                case=names[c] if split_below is not None else None,
                knots=knot_x.copy(),
                log10_D_knots=layout.y(theta, c, y_ref),
                log10_D_knots_stderr=knot_err,
                fraction=fraction,
                D_cm2_s=10.0**y,
                D_low_cm2_s=10.0**lo,
                D_high_cm2_s=10.0**hi,
                valid_range=(float(vr[0]), float(vr[1])),
                sed=summary,
            )
        )

    foreign = {}
    try:
        best_cases = problem.cases(theta)
        for case in best_cases:
            foreign[case.meta.name] = {
                s.name: s.D_cm2_s for s in case.species if s.role == "foreign"
            }
    except InputError:
        pass
    if red > 4.0 and not failed:
        warnings.append(
            f"reduced chi-square {red:.3g} >> 1: the curve does not describe the data within "
            "their uncertainties"
        )
    return InversionResult(
        success=not interrupted and not failed,
        message=message,
        species=species,
        temperature_K=T,
        D_ref_cm2_s=d_ref,
        split_below=split_below,
        case_names=tuple(names),
        curves=tuple(curves),
        case_valid_ranges=tuple((float(a), float(b)) for a, b in valid),
        parameters=tuple(fitted),
        regularization={
            "lambda": problem.lam,
            "criterion": criterion,
            "lambda_grid": LAMBDA_GRID.tolist() if regularization is None else [],
            "gcv": gcv.tolist() if regularization is None else [],
            # the strongest smoothing of the grid: the data cannot tell the curve from one
            # with no second differences (a Gaussian SED on the default knots)
            "at_grid_end": bool(regularization is None and problem.lam >= LAMBDA_GRID[-1]),
            "rounds": rounds,
        },
        band_method=band_method,
        chi2=chi2,
        reduced_chi2=red,
        n_points=N,
        n_parameters=layout.size,
        n_simulations=model.n_simulations,
        wall_s=time.perf_counter() - t0,
        warnings=tuple(warnings),
        method=method,
        foreign_D_cm2_s=foreign,
        profiles=tuple(profiles or ()),
    )


def _union(valid: Sequence[Sequence[float]]) -> list[float]:
    lo = [v[0] for v in valid if math.isfinite(v[0])]
    hi = [v[1] for v in valid if math.isfinite(v[1])]
    return [min(lo) if lo else math.nan, max(hi) if hi else math.nan]


def _psed_fractions(vr: Sequence[float], fraction: np.ndarray) -> np.ndarray:
    """Fractions over which the PSED Gaussian is fitted: the valid range (else the output)."""
    lo, hi = vr
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        return fraction
    return np.linspace(max(lo, 1e-6), min(hi, 1.0), 100)
