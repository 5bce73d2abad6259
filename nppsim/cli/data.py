"""``nppsim data``: show each ``[[data]]`` block of a case after reading and normalisation."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nppsim.cli.common import EXIT_OK, case_inputs, check_paths, out


def block_lines(index: int, spec: Any, prof: Any) -> list[str]:
    """The report of data block `index` (1-based): file, rows, depths, quantification."""
    info = prof.info
    lines = [f"[[data]] {index}: {prof.file}"]
    lines.append(
        f"    read: header on line {info['header_line']}"
        + (f" after {info['preamble_lines']} preamble lines" if info["preamble_lines"] else "")
        + ("; units row under it" if info["units_row"] else "")
        + f"; {info['rows_in_file']} rows"
    )
    lo_f, hi_f = info["file_depth_range_nm"]
    lo, hi = info["depth_range_nm"]
    position = (
        f"time column {spec.time_column!r} x {spec.sputter_rate_nm_s:g} nm/s"
        if spec.time_column is not None and spec.sputter_rate_nm_s is not None
        else (
            f"time column {spec.time_column!r}, crater depth {spec.crater_depth_nm:g} nm"
            if spec.time_column is not None
            else f"depth column {spec.depth_column!r}"
        )
    )
    lines.append(f"    depth: {position}; file depth {lo_f:.4g}-{hi_f:.4g} nm")
    lines.append(
        f"    true depth = {info['depth_scale']:.6g} * file depth + {info['depth_offset_nm']:.4g} "
        f"nm: {lo:.4g}-{hi:.4g} nm; depth resolution {spec.depth_resolution_nm:g} nm"
    )
    used = f"    points used: {info['points_used']}"
    if info["excluded"]:
        used += " (excluded: " + "; ".join(info["excluded"]) + ")"
    lines.append(used)
    norm = f"    normalize = {info['normalize']}"
    if info.get("matrix_column"):
        norm += f", matrix column {info['matrix_column']!r}"
    lines.append(norm)
    if info["normalize"] != "none":
        lines.append(f"    bulk level {info['bulk_level']:.6g} ({info['bulk_level_from']})")
        for s, f in info["factors"].items():
            lines.append(f"    factor {s}: {f:.6g} ({info['factor_from'][s]})")
        for name in ("sensitivity", "background"):
            if info.get(name):
                lines.append(
                    f"    {name}: " + ", ".join(f"{s} {v:g}" for s, v in info[name].items())
                )
    lines.append(f"    uncertainty: {info['uncertainty_model']}")
    for s in prof.species:
        v, e = prof.values[s], prof.sigma[s]
        lines.append(
            f"    {s}: fraction {v.min():.4g}..{v.max():.4g}, sigma {e.min():.3g}..{e.max():.3g}"
            f", {info['floored_points'][s]} points at the floor"
        )
    return lines


def cmd(args: argparse.Namespace) -> int:
    """``nppsim data``: print every data block after reading and normalisation; --plot draws
    them on a log concentration axis. Refuses (exit 2) what a fit would refuse."""
    from nppsim.case import load_case
    from nppsim.errors import InputError
    from nppsim.profiles import profile_from_spec
    from nppsim.quantify import check_fractions, site_density_limit

    plot_path = Path(args.plot) if args.plot else None
    if plot_path is not None:
        from nppsim.plot import figure_format

        figure_format(plot_path)
    case = load_case(args.case)
    check_paths([("figure", plot_path)], case_inputs([case]))
    if not case.data:
        raise InputError(f"{args.case}: no [[data]] block")
    limit = site_density_limit(case)
    profiles = []
    for k, spec in enumerate(case.data, 1):
        prof = profile_from_spec(spec, case.native.name)
        check_fractions(str(prof.file), prof.values, prof.species, spec.normalize, limit)
        profiles.append(prof)
        for line in block_lines(k, spec, prof):
            out(line)
    if plot_path is not None:
        from nppsim.plot_data import plot_data

        plot_data(profiles, plot_path, title=case.meta.name)
        out(f"wrote {plot_path}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim data`` with the subparsers `sub`."""
    p = sub.add_parser(
        "data",
        help="show the [[data]] blocks of a case after reading and normalisation",
        description=(
            "Read every [[data]] block of CASE as a fit would (header, units, normalisation, "
            "background, depth calibration, fit range) and print what was done; --plot draws "
            "the measured fractions on a log axis."
        ),
    )
    p.add_argument("case", metavar="CASE", help="case file (TOML) with [[data]] blocks")
    p.add_argument("--plot", metavar="FIG.png", help="draw the blocks (png, pdf, svg)")
    p.set_defaults(handler=cmd)
