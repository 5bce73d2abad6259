"""The command line: ``nppsim run | info | fit | sweep | plot | demo`` (also ``python -m nppsim``).

Exit status: 0 success; 2 invalid input (one line ``nppsim: error: ...`` on stderr, never a
traceback); 1 the computation failed (the message, and the path of the partial result saved).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nppsim import units
from nppsim.errors import InputError, SimulationError

logger = logging.getLogger(__name__)

#: output file of ``nppsim run`` without a case file (in the current directory)
DEFAULT_RUN_OUTPUT = "nppsim_default.h5"
#: native fractions of n_bulk at which ``nppsim info`` tabulates D(n)
INFO_FRACTIONS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.05, 0.02, 0.01)
#: the front depth reported after a run is where the foreign fraction crosses this level
FRONT_LEVEL = 0.5
#: plateau estimate: the native fraction where D_native = D_foreign / PLATEAU_D_RATIO
PLATEAU_D_RATIO = 10.0
#: exit statuses
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
#: status after Ctrl-C, as a shell reports a SIGINT
EXIT_INTERRUPTED = 130
#: the demos of ``nppsim demo``
DEMOS = ("sed-width",)
#: matplotlib backends that cannot open a window
NON_INTERACTIVE_BACKENDS = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")


#: stands in the --vary list for a --log
LOG_MARKER = object()


class _LogSpacing(argparse.Action):
    """``--log``: marks the --vary given just before it for geometric spacing."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, self.dest, None) or [])
        items.append(LOG_MARKER)
        setattr(namespace, self.dest, items)


def _version() -> str:
    from nppsim.result import package_version

    return package_version()


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``nppsim`` command."""
    parser = argparse.ArgumentParser(
        prog="nppsim",
        description="Nernst-Planck-Poisson simulation of ion transport in glasses (CAIT).",
    )
    parser.add_argument("--version", action="version", version=f"nppsim {_version()}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress messages (INFO) to stderr"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="simulate a case and save the result (HDF5)",
        description="Simulate CASE (default: the embedded K+ on Li3B7O12-like case).",
    )
    run.add_argument("case", nargs="?", metavar="CASE", help="case file (TOML)")
    run.add_argument(
        "-o",
        "--output",
        metavar="OUT.h5",
        help="result file (default: <case stem>.h5, or nppsim_default.h5, in the current folder)",
    )
    run.add_argument("--csv", metavar="PROFILE.csv", help="also write the final profile as CSV")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a case value, e.g. --set sample.temperature_K=400 (repeatable)",
    )
    run.add_argument(
        "--solver", choices=("npp", "electroneutral"), help="override the case's solver.method"
    )
    run.add_argument(
        "--initial",
        metavar="RESULT.h5",
        help=(
            "start from the last snapshot of a saved result instead of the pristine sample "
            "(e.g. the second CAIT of a sequential Double-CAIT on the first one's result)"
        ),
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    run.add_argument("--plot", metavar="FIG.png", help="also draw the result (png, pdf, svg)")
    run.set_defaults(handler=cmd_run)

    info = sub.add_parser(
        "info",
        help="derived quantities of a case (Debye length, conductivity, D(n), grid)",
        description="Print derived quantities of CASE without simulating.",
    )
    info.add_argument("case", metavar="CASE", help="case file (TOML)")
    info.set_defaults(handler=cmd_info)

    fit = sub.add_parser(
        "fit",
        help="fit cases to their measured profiles ([[data]] blocks)",
        description=(
            "Vary the --free case values until the simulated profiles match the measured ones "
            "of every [[data]] block; several cases make a joint fit (--shared keys take one "
            "value for all)."
        ),
    )
    fit.add_argument("cases", nargs="+", metavar="CASE", help="case files (TOML) with [[data]]")
    fit.add_argument(
        "--free",
        action="append",
        default=[],
        required=True,
        metavar="KEY[=LOW:HIGH]",
        help="free parameter, e.g. species.K.D_cm2_s=1e-18:1e-14; '*' stands for any species "
        "name (repeatable)",
    )
    fit.add_argument(
        "--shared",
        action="append",
        default=[],
        metavar="KEY",
        help="fit KEY with one value across all cases (repeatable)",
    )
    fit.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a value in every case before fitting (repeatable)",
    )  # fmt: skip
    fit.add_argument(
        "-o", "--output", metavar="FIT.json",
        help="fit result, JSON or .h5 (default: <first case stem>_fit.json here)",
    )  # fmt: skip
    fit.add_argument(
        "--solver",
        choices=("electroneutral", "npp"),
        default="electroneutral",
        help="solver during the fit (default electroneutral; the optimum is checked with npp)",
    )
    fit.add_argument("--starts", type=int, default=1, metavar="N", help="number of starts")
    fit.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="KEY",
        help="also compute the profile-likelihood interval of KEY (repeatable; slow)",
    )
    fit.add_argument(
        "--no-check", action="store_true", help="skip the full-solver check of the optimum"
    )
    fit.add_argument("--plot", metavar="FIG.png", help="also draw data vs fit")
    fit.add_argument("--quiet", action="store_true", help="no progress display and no report")
    fit.set_defaults(handler=cmd_fit)

    sweep = sub.add_parser(
        "sweep",
        help="simulate a case over a grid of values, in parallel (one HDF5 file)",
        description=(
            "Simulate CASE at every combination of the --vary values (the first --vary varies "
            "slowest) in parallel, and save all points to one HDF5 file."
        ),
    )
    sweep.add_argument("case", metavar="CASE", help="case file (TOML)")
    sweep.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=START:STOP:NUM|KEY=V1,V2,...",
        help="swept value: NUM values from START to STOP (evenly spaced; --log right after it "
        "for geometric spacing), or a list, e.g. --vary species.Li.sed.fwhm_eV=0.15:0.35:5 "
        "(repeatable: the grid is the outer product)",
    )
    sweep.add_argument(
        "--log",
        action=_LogSpacing,
        nargs=0,
        dest="vary",
        help="geometric spacing for the --vary just before it",
    )
    sweep.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a case value at every point (repeatable)",
    )  # fmt: skip
    sweep.add_argument(
        "-o", "--output", metavar="SWEEP.h5",
        help="sweep file (default: <case stem>_sweep.h5 in the current folder)",
    )  # fmt: skip
    sweep.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: one per CPU)"
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster, e.g. tcp://10.0.0.5:8786 (needs nppsim[dask])",
    )
    sweep.add_argument(
        "--solver", choices=("npp", "electroneutral"), help="override the case's solver.method"
    )
    sweep.add_argument("--plot", metavar="FIG.png", help="also draw the final profiles")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    sweep.set_defaults(handler=cmd_sweep)

    plot = sub.add_parser(
        "plot",
        help="draw a saved result, fit or sweep",
        description=(
            "Draw a result file written by run, a fit written by fit (JSON or .h5), or a sweep "
            "file written by sweep."
        ),
    )
    plot.add_argument(
        "result",
        metavar="RESULT.h5|FIT.json|SWEEP.h5",
        help="file written by nppsim run, nppsim fit or nppsim sweep",
    )
    plot.add_argument(
        "-o", "--output", metavar="FIGURE.png", help="figure file (default: RESULT with .png)"
    )
    plot.set_defaults(handler=cmd_plot)

    demo = sub.add_parser(
        "demo",
        help="interactive teaching demos",
        description=(
            "sed-width: what the width of the site-energy distribution does to D(n), the plateau "
            "and the CAIT profiles, with sliders (or a still figure with --save)."
        ),
    )
    demo.add_argument("demo", choices=DEMOS, metavar="NAME", help=f"one of: {', '.join(DEMOS)}")
    demo.add_argument(
        "--save", metavar="FIGURE.png", help="write the figure (no window, no display needed)"
    )
    demo.set_defaults(handler=cmd_demo)
    return parser


# ---------------------------------------------------------------------- helpers


def _out(line: str = "") -> None:
    print(line, file=sys.stdout, flush=True)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or type(message).__name__


def _check_output_path(path: Path, what: str) -> None:
    """InputError unless `path` can be created: its folder exists and it is not a folder."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{path}: cannot write the {what}: folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"{path}: cannot write the {what}: it is a folder")


def partial_path(output: Path) -> Path:
    """Where a partial result goes: OUT.h5 -> OUT.partial.h5."""
    return output.with_suffix(".partial.h5")


def _fmt_g(value: Any, spec: str = ".4g") -> str:
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "?"


# ---------------------------------------------------------------------- run


def _load_case_for_run(args: argparse.Namespace) -> Any:
    from nppsim.case import default_case, load_case, parse_assignment

    case = load_case(args.case) if args.case else default_case()
    if args.set:
        values = dict(parse_assignment(a) for a in args.set)
        case = case.with_values(values)
    return case


def _run_output_path(args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    if args.case:
        return Path.cwd() / f"{Path(args.case).stem}.h5"
    return Path.cwd() / DEFAULT_RUN_OUTPUT


def _print_summary(case: Any, result: Any) -> None:
    diag = result.diagnostics
    _out(f"case: {result.case_name}")
    _out(
        f"solver: {result.method}, {result.n_cells} cells, {len(case.stages)} stage(s), "
        f"{result.n_times} snapshots"
    )
    _out(
        f"steps: {diag.get('steps', '?')} accepted, {diag.get('rejected_steps', '?')} rejected; "
        f"Newton iterations: {diag.get('newton_iterations', '?')}"
    )
    _out(f"wall time: {result.wall_s:.3g} s")
    if result.n_times:
        for sp in case.species:
            if sp.role != "foreign" or sp.name not in result.species:
                continue
            depth = result.front_depth_nm(sp.name, FRONT_LEVEL)
            shown = "not reached" if math.isnan(depth) else f"{depth:.4g} nm"
            _out(
                f"front ({sp.name} fraction = {FRONT_LEVEL:g}) at t = "
                f"{result.times_s[-1]:.4g} s: {shown}"
            )


def _save_partial(result: Any, output: Path) -> None:
    path = partial_path(output)
    try:
        result.save(path)
    except OSError as exc:
        _err(f"nppsim: could not save the partial result to {path}: {_one_line(exc)}")
        return
    _err(f"nppsim: partial result saved to {path}")


def cmd_run(args: argparse.Namespace) -> int:
    """``nppsim run``: simulate, save HDF5 (and optionally CSV and a figure), print a summary."""
    output = _run_output_path(args)
    _check_output_path(output, "result")
    csv_path = Path(args.csv) if args.csv else None
    plot_path = Path(args.plot) if args.plot else None
    if csv_path is not None:
        _check_output_path(csv_path, "profile")
    if plot_path is not None:
        from nppsim.plot import figure_format

        _check_output_path(plot_path, "figure")
        figure_format(plot_path)
    case = _load_case_for_run(args)
    # a result file that is missing, damaged or does not fit the case: InputError (exit 2)
    initial = Path(args.initial) if args.initial else None
    from nppsim.simulate import simulate

    progress = not args.quiet and sys.stderr.isatty()
    try:
        result = simulate(case, method=args.solver, progress=progress, initial=initial)
    except SimulationError as exc:
        partial = exc.partial
        if partial is not None and getattr(partial, "diagnostics", {}).get("interrupted"):
            _err(f"nppsim: {_one_line(exc)}")
            _save_partial(partial, output)
            return EXIT_INTERRUPTED
        _err(f"nppsim: simulation failed: {_one_line(exc)}")
        if partial is not None:
            _save_partial(partial, output)
        return EXIT_FAILED

    if not result.completed:
        _err(f"nppsim: simulation stopped early: {_one_line(result.message)}")
        _save_partial(result, output)
        return EXIT_FAILED

    written = [result.save(output)]
    if csv_path is not None:
        written.append(result.save_csv(csv_path))
    if plot_path is not None:
        from nppsim.plot import plot_result

        plot_result(result, plot_path)
        written.append(plot_path)
    if not args.quiet:
        _print_summary(case, result)
    for path in written:
        _out(f"wrote {path}")
    return EXIT_OK


# ---------------------------------------------------------------------- info


def _evaluate(fn: Any, xs: Sequence[float]) -> list[float]:
    """fn at every x as floats; vectorised when fn accepts an array, else one by one."""
    arr = np.asarray(xs, dtype=float)
    try:
        values = np.asarray(fn(arr), dtype=float)
        if values.shape == arr.shape:
            return [float(v) for v in values]
    except (TypeError, ValueError):
        pass
    return [float(fn(float(x))) for x in xs]


def _describe_sed(sed: Any) -> str:
    """One-line description of an SEDSpec, naming the parameters of its shape."""
    shape = sed.shape
    parts = [f"{shape} SED"]
    if shape == "gaussian":
        parts.append(f"FWHM {sed.fwhm_eV:g} eV")
    elif shape == "gaussians" and getattr(sed, "components", None):
        parts.append(f"{len(sed.components)} Gaussians")
    elif shape == "box" and getattr(sed, "width_eV", None) is not None:
        parts.append(f"width {sed.width_eV:g} eV")
    elif shape == "exponential" and getattr(sed, "tail_eV", None) is not None:
        parts.append(f"tail {sed.tail_eV:g} eV")
    elif shape == "table" and getattr(sed, "energies_eV", None):
        parts.append(f"{len(sed.energies_eV)} tabulated points")
    parts.append(f"vacancy fraction {sed.vacancy_fraction:g}")
    parts.append(f"filling {sed.filling}")
    return ", ".join(parts)


def _d_of_n_lines(case: Any, sp: Any, foreigns: Sequence[Any]) -> list[str]:
    """D(n) table of a species with an SED or a D table, and its plateau estimates."""
    from nppsim.simulate import mobility_for

    mob = mobility_for(case, sp)
    d_ref = sp.D_cm2_s
    what = _describe_sed(sp.sed) if sp.sed is not None else "tabulated D(n)"
    lines = ["", f"D(n) of {sp.name} ({what}), D_ref = {d_ref:.4g} cm^2/s:"]
    lines.append(
        f"  {'fraction':>8}  {'D (cm^2/s)':>11}  {'log10 D/D_ref':>13}  {'shift (meV)':>11}"
    )
    d_values = _evaluate(mob.D, INFO_FRACTIONS)
    shift_fn = getattr(mob, "activation_shift_eV", None)
    shifts = _evaluate(shift_fn, INFO_FRACTIONS) if shift_fn else [math.nan] * len(d_values)
    for c, d, shift in zip(INFO_FRACTIONS, d_values, shifts, strict=True):
        log_ratio = math.log10(d / d_ref) if d > 0 and d_ref > 0 else math.nan
        # + 0.0 turns -0.0 (no shift at the pristine density) into 0.0
        shift_meV = shift * 1e3 + 0.0
        lines.append(f"  {c:>8.2f}  {d:>11.3e}  {log_ratio:>13.3f}  {shift_meV:>11.1f}")
    plateau_fn = getattr(mob, "plateau_fraction", None)
    if sp.role != "native" or plateau_fn is None:
        return lines
    for f in foreigns:
        plateau = plateau_fn(f.D_cm2_s)
        if plateau is None or not math.isfinite(float(plateau)):
            shown = f"none (D_{sp.name} stays above D_{f.name}/{PLATEAU_D_RATIO:g})"
        else:
            shown = f"{float(plateau):.4g} of n_bulk"
        lines.append(
            f"plateau estimate with {f.name} (D_{sp.name} = D_{f.name}/{PLATEAU_D_RATIO:g}, "
            f"D_{f.name} = {f.D_cm2_s:.3g} cm^2/s): {shown}"
        )
    return lines


def _info_lines(case: Any) -> list[str]:
    s = case.sample
    lines = [f"case: {case.meta.name}" + (f" ({case.path})" if case.path else "")]
    lines.append(
        f"sample: {s.thickness_um:g} um thick, T = {s.temperature_K:g} K, "
        f"n_bulk = {s.n_bulk_cm3:.4g} cm^-3, eps_r = {s.eps_r:g}"
    )
    lines.append(f"thermal voltage kT/e: {units.thermal_voltage_V(s.temperature_K) * 1e3:.4g} mV")
    lines.append(
        f"Debye length: {units.debye_length_nm(s.n_bulk_cm3, s.eps_r, s.temperature_K):.4g} nm"
    )

    natives = [sp for sp in case.species if sp.role == "native"]
    foreigns = [sp for sp in case.species if sp.role == "foreign"]
    sigma = 0.0
    for sp in natives:
        sigma_sp = units.conductivity_S_cm(
            s.n_bulk_cm3 * sp.initial_fraction, sp.D_cm2_s, s.temperature_K, sp.charge
        )
        sigma += sigma_sp
        lines.append(f"bulk conductivity ({sp.name}, Nernst-Einstein): {sigma_sp:.4g} S/cm")
    if len(natives) > 1:
        lines.append(f"bulk conductivity (all native): {sigma:.4g} S/cm")
    if sigma > 0:
        tau = units.EPS0_F_CM * s.eps_r / sigma
        lines.append(f"dielectric relaxation time eps0 eps_r / sigma: {tau:.4g} s")
    else:
        lines.append("dielectric relaxation time eps0 eps_r / sigma: infinite (no native carriers)")

    g = case.grid
    from solvers.grid import graded_faces_nm

    faces = np.asarray(
        graded_faces_nm(s.thickness_um * 1e3, g.fine_depth_nm, g.fine_spacing_nm, g.growth)
    )
    widths = np.diff(faces)
    lines.append(
        f"grid: {widths.size} cells, smallest {widths.min():.4g} nm, largest {widths.max():.4g} nm"
    )

    for sp in case.species:
        if sp.sed is not None or getattr(sp, "D_table", None) is not None:
            lines += _d_of_n_lines(case, sp, foreigns)
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    """``nppsim info``: print derived quantities of a case."""
    from nppsim.case import load_case

    case = load_case(args.case)
    for line in _info_lines(case):
        _out(line)
    return EXIT_OK


# ---------------------------------------------------------------------- plot


def _is_fit_file(path: Path) -> bool:
    if path.suffix.lower() == ".json":
        return True
    if path.suffix.lower() in (".h5", ".hdf5") and path.is_file():
        try:
            import h5py

            with h5py.File(path, "r") as h5:
                return "fit_json" in h5.attrs
        except (OSError, KeyError, RuntimeError, ValueError):
            return False
    return False


def cmd_plot(args: argparse.Namespace) -> int:
    """``nppsim plot``: draw a saved result, fit or sweep to a figure file."""
    from nppsim.plot import figure_format, plot_fit, plot_result
    from nppsim.result import load_result
    from nppsim.sweep import is_sweep_file

    source = Path(args.result)
    output = Path(args.output) if args.output else source.with_suffix(".png")
    _check_output_path(output, "figure")
    figure_format(output)
    if _is_fit_file(source):
        from fitting.result import load_fit

        plot_fit(load_fit(source), output)
    elif is_sweep_file(source):
        from nppsim.plot import plot_sweep
        from nppsim.sweep import load_sweep

        plot_sweep(load_sweep(source), output)
    else:
        plot_result(load_result(source), output)
    _out(f"wrote {output}")
    return EXIT_OK


# ---------------------------------------------------------------------- fit


class _FitProgress:
    """One self-updating line on stderr: simulations run and the best chi^2 so far."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, n_simulations: int, best_chi2: float) -> None:
        if not self.enabled:
            return
        sys.stderr.write(f"\rfit: {n_simulations} simulations, best chi-square {best_chi2:.6g}  ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def cmd_fit(args: argparse.Namespace) -> int:
    """``nppsim fit``: fit cases to their data, write the fit (JSON/HDF5), print the report."""
    from fitting.fit import fit
    from nppsim.case import load_case, parse_assignment

    output = (
        Path(args.output) if args.output else Path.cwd() / f"{Path(args.cases[0]).stem}_fit.json"
    )
    _check_output_path(output, "fit")
    plot_path = Path(args.plot) if args.plot else None
    if plot_path is not None:
        from nppsim.plot import figure_format

        _check_output_path(plot_path, "figure")
        figure_format(plot_path)
    if args.starts < 1:
        raise InputError(f"--starts: must be >= 1, got {args.starts}")
    values = dict(parse_assignment(a) for a in args.set)
    cases = [load_case(c) for c in args.cases]
    if values:
        cases = [c.with_values(values) for c in cases]
    progress = _FitProgress(not args.quiet and sys.stderr.isatty())
    try:
        result = fit(
            cases,
            args.free,
            args.shared,
            method=args.solver,
            starts=args.starts,
            check=not args.no_check,
            profile=args.profile,
            progress=progress,
        )
    finally:
        progress.close()
    result.save(output)
    if plot_path is not None and result.profiles:
        from nppsim.plot import plot_fit

        plot_fit(result, plot_path)
    if not args.quiet:
        _out(result.report())
    _out(f"wrote {output}")
    if plot_path is not None and result.profiles:
        _out(f"wrote {plot_path}")
    if not result.success:
        _err(f"nppsim: fit did not succeed: {_one_line(result.message)}; best point saved")
        return EXIT_INTERRUPTED if "interrupted" in result.message else EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------- sweep


def _parse_number(text: str, option: str) -> int | float:
    text = text.strip()
    try:
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a number") from None


def parse_vary(items: Sequence[object]) -> dict[str, list[int | float]]:
    """The --vary options (with LOG_MARKER for each --log) as {key: values}, in order.

    ``KEY=START:STOP:NUM``: NUM values from START to STOP, evenly spaced, or geometrically when a
    --log follows; ``KEY=V1,V2,...``: the values as given. InputError naming the option if the
    syntax is wrong, a key repeats, or --log does not follow a START:STOP:NUM range.
    """
    values: dict[str, list[int | float]] = {}
    ranges: dict[str, tuple[float, float, int]] = {}
    last: str | None = None
    for item in items:
        if item is LOG_MARKER:
            if last is None:
                raise InputError("--log: must follow a --vary KEY=START:STOP:NUM")
            if last not in ranges:
                raise InputError(
                    f"--log after --vary {last}=...: --log applies to a START:STOP:NUM range, "
                    "not to a list"
                )
            start, stop, num = ranges.pop(last)
            if not (start > 0 and stop > 0):
                raise InputError(
                    f"--vary {last}={start:g}:{stop:g}:{num} --log: START and STOP must be > 0"
                )
            values[last] = np.geomspace(start, stop, num).tolist()
            last = None
            continue
        text = str(item)
        option = f"--vary {text}"
        key, sep, spec = text.partition("=")
        key, spec = key.strip(), spec.strip()
        if not sep or not key or not spec:
            raise InputError(f"{option}: expected KEY=START:STOP:NUM or KEY=V1,V2,...")
        if key in values:
            raise InputError(f"{option}: {key} is varied twice")
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) != 3:
                raise InputError(f"{option}: expected KEY=START:STOP:NUM (three numbers)")
            start, stop = (float(_parse_number(x, option)) for x in parts[:2])
            num = _parse_number(parts[2], option)
            if not isinstance(num, int) or num < 1:
                raise InputError(f"{option}: NUM must be a whole number >= 1, got {parts[2]!r}")
            if not (math.isfinite(start) and math.isfinite(stop)):
                raise InputError(f"{option}: START and STOP must be finite")
            ranges[key] = (start, stop, num)
            values[key] = np.linspace(start, stop, num).tolist()
        else:
            entries = spec.split(",")
            if any(not e.strip() for e in entries):
                raise InputError(f"{option}: empty value in the list")
            values[key] = [_parse_number(e, option) for e in entries]
        last = key
    if not values:
        raise InputError("--vary: give at least one KEY=START:STOP:NUM or KEY=V1,V2,...")
    return values


def _dask_executor(address: str) -> tuple[Any, Any]:
    """(client, executor) of the Dask scheduler at `address`; InputError if it cannot be used."""
    try:
        import distributed
    except ImportError:
        raise InputError(
            f"--scheduler {address}: needs the Dask 'distributed' package "
            '(pip install "nppsim[dask]")'
        ) from None
    try:
        client = distributed.Client(address)
    except (OSError, ValueError) as exc:
        raise InputError(f"--scheduler {address}: cannot connect ({_one_line(exc)})") from None
    return client, client.get_executor()


def cmd_sweep(args: argparse.Namespace) -> int:
    """``nppsim sweep``: simulate a case over a grid of values, save one HDF5 file, print a
    table of the points."""
    from nppsim.sweep import SweepInterrupted, sweep

    output = Path(args.output) if args.output else Path.cwd() / f"{Path(args.case).stem}_sweep.h5"
    _check_output_path(output, "sweep")
    plot_path = Path(args.plot) if args.plot else None
    if plot_path is not None:
        from nppsim.plot import figure_format

        _check_output_path(plot_path, "figure")
        figure_format(plot_path)
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers: must be >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise InputError("--workers and --scheduler: give one (the cluster has its own workers)")
    values = parse_vary(args.vary)
    case = _load_case_for_run(args)
    from nppsim.errors import CaseError

    for key in values:
        try:
            case.get_value(key)
        except CaseError as exc:
            raise InputError(f"--vary {key}: {_one_line(exc)}") from None

    client, executor = _dask_executor(args.scheduler) if args.scheduler else (None, None)
    progress = not args.quiet and sys.stderr.isatty()
    try:
        result = sweep(
            case,
            values,
            executor=executor,
            method=args.solver,
            workers=args.workers,
            progress=progress,
        )
    except SweepInterrupted as exc:
        partial = exc.partial
        path = partial_path(output)
        partial.save(path)
        done = partial.n_points - partial.n_not_run
        _err(f"nppsim: interrupted: {done} of {partial.n_points} points finished; saved to {path}")
        return EXIT_INTERRUPTED
    finally:
        if client is not None:
            client.close()

    result.save(output)
    if plot_path is not None:
        from nppsim.plot import plot_sweep

        plot_sweep(result, plot_path)
    if not args.quiet:
        _out(result.summary())
        _out(f"{result.n_points} points in {result.wall_s:.3g} s ({result.method} solver)")
    _out(f"wrote {output}")
    if plot_path is not None:
        _out(f"wrote {plot_path}")
    if result.n_failed == result.n_points:
        _err(f"nppsim: all {result.n_points} points failed (first: {result.messages[0]})")
        return EXIT_FAILED
    if result.n_failed:
        _err(f"nppsim: {result.n_failed} of {result.n_points} points failed; see {output}")
    return EXIT_OK


# ---------------------------------------------------------------------- demo


def _interactive_pyplot() -> Any:
    """matplotlib.pyplot with a backend that can open a window; InputError otherwise."""
    try:
        import matplotlib.pyplot as plt

        backend = str(plt.get_backend())
    except ImportError as exc:
        raise InputError(
            f"demo: cannot open a window ({_one_line(exc)}); use --save FIGURE.png"
        ) from None
    if backend.lower() in NON_INTERACTIVE_BACKENDS:
        raise InputError(
            f"demo: no display for an interactive window (matplotlib backend {backend!r}); "
            "use --save FIGURE.png"
        )
    return plt


def cmd_demo(args: argparse.Namespace) -> int:
    """``nppsim demo sed-width``: the SED-width teaching figure, in a window with sliders or
    saved with --save."""
    from nppsim.demo import sed_width_figure

    if args.save:
        from nppsim.plot import figure_format, save_figure

        path = Path(args.save)
        _check_output_path(path, "figure")
        figure_format(path)
        save_figure(sed_width_figure(interactive=False), path)
        _out(f"wrote {path}")
        return EXIT_OK
    plt = _interactive_pyplot()
    fig = sed_width_figure(interactive=True)
    plt.show()
    plt.close(fig)
    return EXIT_OK


# ---------------------------------------------------------------------- entry point


#: loggers whose messages the command line shows on stderr
CLI_LOGGERS = ("nppsim", "solvers", "sed", "fitting")


def _attach_log_handler(verbose: bool) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nppsim: %(levelname)s: %(message)s"))
    for name in CLI_LOGGERS:
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler


def _detach_log_handler(handler: logging.Handler) -> None:
    for name in CLI_LOGGERS:
        logging.getLogger(name).removeHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = _attach_log_handler(args.verbose)
    try:
        return args.handler(args)
    except InputError as exc:
        _err(f"nppsim: error: {_one_line(exc)}")
        return EXIT_INPUT
    except OSError as exc:
        # inputs are checked up front, so this is a write that failed (disk full, permissions)
        _err(f"nppsim: error: {_one_line(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("nppsim: interrupted")
        return EXIT_INTERRUPTED
    finally:
        _detach_log_handler(handler)
