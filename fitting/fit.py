"""Least-squares fits of simulated profiles to measured ones (MODEL.md section 9).

`fit` varies the free parameters (`fitting.parameters`) with scipy's trust-region-reflective
least squares in internal coordinates u in [0, 1] (log10 for diffusion coefficients), from
one or several starts (the case values, then a seeded Latin hypercube). A failed simulation
gives a large finite residual (never a crash). At the optimum the standard errors and the
correlation matrix come from the Jacobian, scaled by the reduced chi^2; a parameter on a bound
or an undetermined (singular) direction gives a warning instead of a number. On request a
profile-likelihood interval is computed per parameter (the others refitted). The default
solver is the full NPP one, after a prefit with the electroneutral solver (its search is
cheap, and the full solver then refines from its optimum with the Jacobian of its forward
sensitivities); a fit with the electroneutral solver throughout is checked with the full
solver at the optimum. The objective, its Jacobian and the least-squares core are in
`fitting.objective`.

Ctrl-C (KeyboardInterrupt) during a fit stops it and returns the best point so far
(``success`` False, message "interrupted").
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import qmc

from fitting.forward import FAILED_RESIDUAL, ForwardModel, as_case_list
from fitting.objective import (
    Objective,
    covariance,
    run_least_squares,
    safe_eval,
)
from fitting.parameters import FreeParameter, case_values, expand_parameters
from fitting.result import FitResult, FittedParameter, correlation_warnings
from nppsim.case import Case
from nppsim.errors import InputError, SimulationError
from solvers.interrupt import stopped_by

log = logging.getLogger(__name__)

__all__ = ["fit"]

#: a value within this fraction of the bound range of a bound counts as at the bound
AT_BOUND = 1.0e-4
#: full-solver check: warn when the two solvers' model profiles differ by more than this
#: fraction of the median measurement uncertainty
CHECK_WARN_FRACTION = 0.25
#: profile likelihood: the interval edge is where chi^2 / reduced_chi2 rises by this (1 sigma)
PROFILE_DELTA = 1.0


def _prefit_objective(
    cases: Sequence[Case],
    params: Sequence[FreeParameter],
    method: str,
    prefit: bool,
    resolution: Mapping[tuple[int, int], object] | None,
    species_weights: Mapping[str, float] | None,
    progress: Callable[[int, float], None] | None,
    on_best: Callable[[dict[str, float], float], None] | None,
) -> Objective | None:
    """The electroneutral objective of `fit`'s prefit, or None (no prefit asked for, the fit's
    own solver is the electroneutral one, or a case is outside its model: logged)."""
    if not prefit or method != "npp":
        return None
    from nppsim.simulate import electroneutral_support

    for case in cases:
        why = electroneutral_support(case)
        if why is not None:
            log.info("fit: no electroneutral prefit (%s)", why)
            return None
    model = ForwardModel(cases, "electroneutral", resolution, species_weights)
    return Objective(model, params, progress=progress, on_best=on_best)


def _all_failed_chi2(model: ForwardModel) -> float:
    """chi^2 of a point whose simulations all failed (every residual FAILED_RESIDUAL)."""
    return model.n_points * FAILED_RESIDUAL**2


def fit(
    cases: Case | Sequence[Case],
    free: Sequence[str],
    shared: Sequence[str] = (),
    *,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    log_scale: Mapping[str, bool] | None = None,
    method: str = "npp",
    starts: int = 1,
    seed: int = 0,
    check: bool = True,
    profile: Sequence[str] = (),
    resolution: Mapping[tuple[int, int], object] | None = None,
    species_weights: Mapping[str, float] | None = None,
    max_nfev: int = 200,
    progress: Callable[[int, float], None] | None = None,
    on_best: Callable[[dict[str, float], float], None] | None = None,
    jacobian: str = "auto",
    prefit: bool = True,
) -> FitResult:
    """Fit cases with measured profiles (``[[data]]`` blocks) by varying free case values.

    cases: one case or several (a joint fit); free: dotted keys or patterns (one key may be given
    as a string) (``*`` for any
    species name, stage or data number), optionally ``KEY=LOW:HIGH``; shared: keys fitted with
    one value across all cases (e.g. ``species.Li.sed.fwhm_eV`` for K, Rb and Cs on one
    glass); bounds: {key: (low, high)} (the key's unit; default `default_bounds`); log_scale:
    {key: bool} (default: log for ``*D_cm2_s``); method: solver during the fit ("npp",
    the full solver, the default: after the electroneutral prefit, see `prefit`; or
    "electroneutral", the reduced model throughout, 2-3x faster, whose optimum differs from the
    full solver's by up to a few standard errors: checked, see `check`); starts: number of
    starts (the first from the case values, the others from a Latin hypercube with `seed`);
    check: after an
    electroneutral fit, rerun the optimum with the full NPP solver and report the difference;
    profile: labels or keys of parameters that get a profile-likelihood interval;
    resolution: {(case_index, data_index 1-based): depth-resolution model} overriding the
    Gaussian of ``depth_resolution_nm``; species_weights: {species: weight} of the residuals;
    max_nfev: evaluations per start; progress: called as progress(n_simulations, best_chi2)
    after every evaluation; on_best: called as on_best({label: value}, chi2) whenever the best
    point so far improves (the parameters in their own units; the browser app's live display);
    jacobian: "auto" (from forward sensitivities integrated along every simulation,
    `solvers.kernels_sensitivity` or `solvers.electroneutral_sensitivity`, when every free key
    supports them: the species' mobilities and the stages' potentials (electroneutral: also
    currents); else finite differences) or "differences" (one more simulation per parameter,
    DIFF_STEP). prefit: with method "npp", first fit with the electroneutral solver (every
    start), then refine the best of those with the full solver from there (a few full-solver
    simulations instead of the whole search; skipped, with the reason logged, when a case is
    outside the electroneutral model); the result is the full solver's optimum either way. A
    KeyboardInterrupt raised by either callback stops the fit like Ctrl-C.

    Returns a FitResult. Raises InputError for invalid parameters or data (before any
    simulation); a simulation failure during the fit only penalises that point.
    """
    t0 = time.perf_counter()
    case_list = as_case_list(cases)
    if method not in ("npp", "electroneutral"):
        raise InputError(f"fit: unknown solver {method!r} (use 'electroneutral' or 'npp')")
    if jacobian not in ("auto", "differences"):
        raise InputError(f"fit: unknown jacobian {jacobian!r} (use 'auto' or 'differences')")
    if isinstance(starts, bool) or not isinstance(starts, (int, np.integer)) or starts < 1:
        raise InputError(f"fit: starts must be a whole number >= 1, got {starts!r}")
    params = expand_parameters(case_list, free, shared, bounds, log_scale)
    model = ForwardModel(case_list, method, resolution, species_weights)
    pre = _prefit_objective(case_list, params, method, prefit, resolution, species_weights,
                            progress, on_best)  # fmt: skip
    if pre is not None and progress is not None:
        # the count of simulations goes on from the prefit's
        def progress_all(n_sim: int, best: float) -> None:
            progress(n_sim + pre.model.n_simulations, best)

        obj = Objective(model, params, progress=progress_all, on_best=on_best)
    else:
        obj = Objective(model, params, progress=progress, on_best=on_best)
    n_par = len(params)
    if model.n_points <= n_par:
        raise InputError(
            f"fit: {model.n_points} data points cannot determine {n_par} free parameters"
        )

    data_side = any(p.key.startswith("data.") for p in params)
    if jacobian == "auto" and not data_side:
        # the Jacobian from forward sensitivities instead of one more simulation per parameter
        keys = [[p.key for p in params if i in p.cases] for i in range(len(case_list))]
        why = model.use_sensitivities(keys)
        if why is not None:
            log.info("fit: Jacobian by finite differences (%s)", why)
        if pre is not None:
            why = pre.model.use_sensitivities(keys)
            if why is not None:
                log.info("fit: prefit Jacobian by finite differences (%s)", why)
    u_inits = [np.array([p.to_internal(p.initial) for p in params])]
    if starts > 1:
        sampler = qmc.LatinHypercube(d=n_par, seed=np.random.default_rng(seed))
        u_inits.extend(sampler.random(starts - 1))

    warnings: list[str] = []
    start_log: list[dict] = []
    interrupted = False
    message = ""
    best_u_free: np.ndarray | None = None
    best_jac: np.ndarray | None = None
    best_chi2 = math.inf
    try:
        first = pre if pre is not None else obj
        for k, u0 in enumerate(u_inits):
            n_before = first.nfev
            u_opt, msg, jac = run_least_squares(first, u0, max_nfev)
            r = first(u_opt)
            chi2 = float(r @ r)
            start_log.append(
                {
                    "initial": first.values(u0),
                    "chi2": chi2,
                    "nfev": first.nfev - n_before,
                    "message": msg,
                    "solver": first.model.method,
                }
            )
            log.info("start %d (%s): chi2 %.6g (%s)", k + 1, first.model.method, chi2, msg)
            if chi2 < best_chi2:
                best_chi2, best_u_free, message, best_jac = chi2, u_opt, msg, jac
        if pre is not None:
            # the full solver from the electroneutral optimum (from the first start if every
            # prefit simulation failed)
            failed = best_u_free is None or pre.best_chi2 >= _all_failed_chi2(model)
            u_start = np.clip(u_inits[0] if failed else best_u_free, 0.0, 1.0)
            n_before = obj.nfev
            u_opt, msg, jac = run_least_squares(obj, u_start, max_nfev)
            r = obj(u_opt)
            best_chi2, best_u_free, message, best_jac = float(r @ r), u_opt, msg, jac
            start_log.append(
                {
                    "initial": obj.values(u_start),
                    "chi2": best_chi2,
                    "nfev": obj.nfev - n_before,
                    "message": msg,
                    "solver": method,
                }
            )
            log.info("refined with %s: chi2 %.6g (%s)", method, best_chi2, msg)
    except KeyboardInterrupt as exc:
        interrupted = True
        n_sim = model.n_simulations + (pre.model.n_simulations if pre is not None else 0)
        message = f"interrupted by {stopped_by(exc)} after {n_sim} simulations"
        warnings.append("fit interrupted: the values are the best point so far, not an optimum")
        best_u_free = obj.best_u
        if best_u_free is None and pre is not None:
            best_u_free = pre.best_u

    if best_u_free is None:  # interrupted before the first evaluation finished
        best_u_free = u_inits[0]
    u_best = np.asarray(best_u_free, dtype=float)
    r_best = obj(u_best) if not interrupted else safe_eval(obj, u_best)
    chi2 = float(r_best @ r_best)
    failed_best = bool(np.all(r_best == FAILED_RESIDUAL))
    if failed_best:
        warnings.append(f"the best point failed to simulate: {model.last_error}")
    dof = model.n_points - n_par
    red = chi2 / dof

    # uncertainties from the Jacobian at the optimum (scaled by the reduced chi^2)
    stderr_u = np.full(n_par, math.nan)
    corr = np.full((n_par, n_par), math.nan)
    if not interrupted and not failed_best and best_jac is not None:
        # the Jacobian least_squares evaluated at its solution (forward differences, DIFF_STEP)
        cov, bad = covariance(best_jac, red)
        with np.errstate(invalid="ignore"):
            stderr_u = np.sqrt(np.diag(cov))
            corr = cov / np.outer(stderr_u, stderr_u)
        for i in bad:
            warnings.append(
                f"{params[i].label}: undetermined (singular covariance): the data do not "
                "constrain it, or it is degenerate with another parameter"
            )

    values = [p.from_internal(u) for p, u in zip(params, u_best, strict=True)]
    fitted = []
    for i, p in enumerate(params):
        at_bound = bool(u_best[i] <= AT_BOUND or u_best[i] >= 1.0 - AT_BOUND)
        if at_bound:
            which = "lower" if u_best[i] <= AT_BOUND else "upper"
            bound = p.low if which == "lower" else p.high
            warnings.append(
                f"{p.label} = {values[i]:.4g} is at its {which} bound {bound:.4g}: "
                "widen the bounds; its standard error is not meaningful"
            )
        fitted.append(
            FittedParameter(
                key=p.key,
                case=p.case if len(case_list) > 1 else None,
                value=values[i],
                stderr=float(abs(p.derivative(u_best[i])) * stderr_u[i]),
                low=p.low,
                high=p.high,
                at_bound=at_bound,
                log=p.log,
                initial=p.initial,
            )
        )

    best_cases = _best_cases(model, params, values)
    profiles: tuple = ()
    if best_cases is not None:
        try:
            profiles = tuple(model.profiles(best_cases))
        except (SimulationError, InputError):
            profiles = ()

    # profile-likelihood intervals on request
    if profile and not interrupted and not failed_best:
        try:
            fitted = _profile_intervals(
                model, params, fitted, u_best, chi2, red, profile, max_nfev, progress, warnings
            )
        except KeyboardInterrupt as exc:
            interrupted = True
            message = f"interrupted by {stopped_by(exc)} after {model.n_simulations} simulations"
            warnings.append("profile-likelihood intervals interrupted")

    check_info: dict = {}
    if check and method == "electroneutral" and best_cases is not None and profiles:
        try:
            check_info = _full_solver_check(model, best_cases, profiles, warnings)
        except KeyboardInterrupt:
            warnings.append("full-solver check interrupted")

    if red > 4.0 and not failed_best:
        warnings.append(
            f"reduced chi-square {red:.3g} >> 1: the model does not describe the data within "
            "their uncertainties (standard errors are scaled up accordingly)"
        )
    n_fail = model.n_failed
    if n_fail:
        warnings.append(
            f"{n_fail} of {model.n_simulations} simulations failed during the fit (penalised); "
            f"last: {model.last_error}"
        )
    warnings.extend(correlation_warnings(fitted, corr))
    success = (not interrupted) and not failed_best
    return FitResult(
        success=success,
        message=message or "done",
        parameters=tuple(fitted),
        correlation=corr,
        chi2=chi2,
        reduced_chi2=red,
        n_points=model.n_points,
        aic=chi2 + 2.0 * n_par,
        bic=chi2 + n_par * math.log(model.n_points),
        n_simulations=model.n_simulations + (pre.model.n_simulations if pre is not None else 0),
        wall_s=time.perf_counter() - t0,
        warnings=tuple(warnings),
        method=method,
        profiles=profiles,
        check=check_info,
        starts=tuple(start_log),
        case_tomls=tuple(c.to_toml() for c in best_cases) if best_cases else (),
    )


def _best_cases(
    model: ForwardModel, params: Sequence[FreeParameter], values: Sequence[float]
) -> list[Case] | None:
    try:
        return model.cases_with(case_values(params, values, len(model.cases)))
    except InputError:
        return None


def _full_solver_check(
    model: ForwardModel, best_cases: Sequence[Case], profiles: Sequence, warnings: list[str]
) -> dict:
    """Rerun the optimum with the full NPP solver; compare model profiles and chi^2."""
    full = ForwardModel(best_cases, "npp", model.resolution, model.species_weights)
    try:
        full_profiles = full.profiles(best_cases)
    except (SimulationError, InputError) as exc:
        warnings.append(f"full-solver check failed: {exc}")
        return {}
    diff = 0.0
    sig = []
    for a, b in zip(profiles, full_profiles, strict=True):
        for s in a.species:
            diff = max(diff, float(np.max(np.abs(a.model[s] - b.model[s]))))
            sig.append(a.sigma[s])
    r = full.residual_vector(full_profiles)
    chi2_full = float(r @ r)
    med = float(np.median(np.concatenate(sig))) if sig else math.nan
    if diff > CHECK_WARN_FRACTION * med:
        warnings.append(
            f"full NPP solver differs from the electroneutral fit by up to {diff:.3g} "
            f"(median uncertainty {med:.3g}): refit with --solver npp"
        )
    return {"method": "npp", "chi2": chi2_full, "max_abs_difference": diff}


def _profile_intervals(
    model: ForwardModel,
    params: Sequence[FreeParameter],
    fitted: list[FittedParameter],
    u_best: np.ndarray,
    chi2_best: float,
    red: float,
    which: Sequence[str],
    max_nfev: int,
    progress: Callable[[int, float], None] | None,
    warnings: list[str],
) -> list[FittedParameter]:
    """Profile-likelihood interval of each requested parameter: the values where the refitted
    chi^2 rises by PROFILE_DELTA * reduced_chi2 above the optimum (1 sigma)."""
    labels = {p.label: i for i, p in enumerate(params)}
    keys: dict[str, list[int]] = {}
    for i, p in enumerate(params):
        keys.setdefault(p.key, []).append(i)
    out = list(fitted)
    target = chi2_best + PROFILE_DELTA * max(red, 1e-300)
    for name in which:
        if name in labels:
            idx = [labels[name]]
        elif name in keys:
            idx = keys[name]
        else:
            raise InputError(f"--profile {name}: not a free parameter")
        for i in idx:

            def chi2_at(ui: float, i: int = i) -> float:
                sub = Objective(model, params, fixed={i: ui}, progress=progress)
                u0 = np.delete(u_best, i)
                if len(u0):
                    u_opt, _, _ = run_least_squares(sub, u0, max_nfev)
                else:
                    u_opt = u0
                r = sub(u_opt)
                return float(r @ r)

            edges = []
            for direction in (-1.0, 1.0):
                edges.append(_find_edge(chi2_at, u_best[i], direction, target))
            p = params[i]
            lo, hi = (p.from_internal(e) if e is not None else math.nan for e in edges)
            if any(e is None for e in edges):
                warnings.append(
                    f"{p.label}: the profile-likelihood interval reaches a bound "
                    "(reported as NaN on that side)"
                )
            out[i] = FittedParameter(**{**out[i].__dict__, "interval": (lo, hi)})
    return out


def _find_edge(
    chi2_at: Callable[[float], float], u0: float, direction: float, target: float
) -> float | None:
    """u where chi2_at crosses target, searching from u0 in `direction` (None: a bound first)."""
    step = 0.01
    inner, outer = u0, None
    while True:
        u = u0 + direction * step
        if u < 0.0 or u > 1.0:
            u = 0.0 if direction < 0 else 1.0
            if chi2_at(u) < target:
                return None
            outer = u
            break
        if chi2_at(u) >= target:
            outer = u
            break
        inner = u
        step *= 2.0
    for _ in range(12):
        mid = 0.5 * (inner + outer)
        if chi2_at(mid) >= target:
            outer = mid
        else:
            inner = mid
    return 0.5 * (inner + outer)
