"""The catalogue's inputs that a user writes: case files, profile files and --set values.

The entries of the malformed-input catalogue run by test_catalogue.py that break a case file
(TOML syntax, encoding, unknown keys, wrong types, out-of-range values, grids, species, stages,
[meta]), a [[data]] block or the profile file it names, a --set value, or a value that passed
validation and failed later; with the `Entry` record and the helpers that build the entries
(`run_case`, `info_case`, `set_value`, `fit_case`, `profile_entry`). A plain data module, not
collected as tests; the result files and output collisions are in catalogue_results.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BAD = Path(__file__).resolve().parent / "bad_inputs"
PROFILES = BAD / "profiles"

# ---------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Entry:
    """One malformed input.

    argv: the command line, with {bad} (bad_inputs/), {tmp} (a fresh folder) and {out} (the
    output file, created with SENTINEL) filled in; named: the file the message must name;
    fragments: text the message must contain (the key, line or column and the problem);
    output: the name of the output file; prepare: makes files in {tmp} first.
    """

    argv: tuple[str, ...]
    named: str
    fragments: tuple[str, ...]
    output: str = "result.h5"
    prepare: Callable[[Path], None] | None = field(default=None, compare=False)
    root_skips: bool = False
    #: a known defect in a module this catalogue does not own: the reason (strict xfail)
    xfail: str = ""


def run_case(name: str, *fragments: str, xfail: str = "") -> Entry:
    argv = ("run", f"{{bad}}/{name}", "-o", "{out}", "--quiet")
    return Entry(argv, f"{{bad}}/{name}", fragments, xfail=xfail)


def info_case(name: str, *fragments: str, xfail: str = "") -> Entry:
    return Entry(("info", f"{{bad}}/{name}"), f"{{bad}}/{name}", fragments, output="", xfail=xfail)


def set_value(assignment: str, *fragments: str, named: str = "{bad}/valid_case.toml") -> Entry:
    argv = ("run", "{bad}/valid_case.toml", "-o", "{out}", "--quiet", "--set", assignment)
    return Entry(argv, named, fragments)


FIT = ("--free", "species.K.D_cm2_s", "-o", "{out}", "--quiet", "--no-check")


def fit_case(name: str, *fragments: str, named: str | None = None) -> Entry:
    return Entry(
        ("fit", f"{{bad}}/{name}", *FIT), named or f"{{bad}}/{name}", fragments, output="fit.json"
    )


#: profile files, read through the [[data]] block of valid_fit_case.toml: (extra --set values
#: or read_profile arguments, fragments)
PROFILE_ENTRIES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "empty.csv": ({}, ("empty file (no header row)",)),
    "only_comments.csv": ({}, ("empty file (no header row)",)),
    "header_only.csv": ({}, ("header only, no data rows",)),
    "ragged_rows.csv": ({}, ("line 4: 2 fields, expected 3 (ragged row; comma-separated)",)),
    "too_many_fields.csv": ({}, ("line 3: 4 fields, expected 3 (ragged row",)),
    "text_in_numeric_column.csv": ({}, ("line 3: column 'K': 'abc' is not a number",)),
    "infinite_value.csv": ({}, ("line 3: column 'K': 'inf' is not finite",)),
    "non_monotonic_depth.csv": (
        {},
        ("line 4: depth 1.5 nm is not larger than the previous 2.0 nm (not monotonic depth)",),
    ),
    "negative_depth.csv": ({}, ("line 2: depth -1.0 nm is negative",)),
    "duplicated_depth.csv": ({}, ("line 4: depth 2.0 nm", "(duplicated depth)")),
    "all_nan_column.csv": ({}, ("column 'K' has no values (all cells empty or nan)",)),
    "missing_depth_value.csv": ({}, ("line 3: column 'depth_nm': no value",)),
    "numeric_header.csv": ({}, ("line 1: the first line holds numbers, not column names",)),
    "duplicated_column_name.csv": ({}, ("line 1: column name 'K' is ambiguous (columns 3, 4",)),
    "empty_column_name.csv": ({}, ("line 1: column 2 has no name",)),
    "no_depth_column.csv": ({}, ("no column 'depth_nm' (depth column;", "columns: x_pos, Li, K")),
    "unknown_depth_unit_brackets.csv": (
        {"depth_column": "depth (furlong)"},
        ("column 'depth (furlong)': unknown length unit 'furlong'",),
    ),
    "unknown_depth_unit_suffix.csv": (
        {"depth_column": "depth_Ang"},
        ("column 'depth_Ang': unknown length unit 'Ang'",),
    ),
    "utf16_without_bom.csv": (
        {},
        ("not a text file", "UTF-16 little-endian without a byte-order mark"),
    ),
    "bad_utf16_with_bom.csv": ({}, ("not valid UTF-16 text",)),
    "random_bytes.csv": ({}, ("line 1: cannot split the header into columns",)),
    "binary_png.csv": ({}, ("not a text file (it contains NUL bytes)",)),
    "absurd_fraction.csv": (
        {},
        ("line 3: column 'K': fraction 1e+308 of n_bulk is not physical (more than 100",),
    ),
}


def profile_entry(name: str) -> Entry:
    extra, fragments = PROFILE_ENTRIES[name]
    sets = [f"data.1.file=profiles/{name}"] + [f"data.1.{k}={v}" for k, v in extra.items()]
    argv = ["fit", "{bad}/valid_fit_case.toml", *FIT]
    for s in sets:
        argv += ["--set", s]
    return Entry(tuple(argv), f"{{bad}}/profiles/{name}", fragments, output="fit.json")


# ---- files without read permission


def _unreadable_case(tmp: Path) -> None:
    shutil.copyfile(BAD / "valid_case.toml", tmp / "locked.toml")
    (tmp / "locked.toml").chmod(0)


def _unreadable_data(tmp: Path) -> None:
    shutil.copyfile(BAD / "valid_fit_case.toml", tmp / "case.toml")
    (tmp / "profiles").mkdir()
    shutil.copyfile(PROFILES / "good.csv", tmp / "profiles" / "good.csv")
    (tmp / "profiles" / "good.csv").chmod(0)


CONTROLS = "potential_V, current_density_A_cm2, potential_table_V, current_table_A_cm2"

CASE_ENTRIES: dict[str, Entry] = {
    # ---- TOML syntax: the line and column
    "syntax-missing-equals": run_case(
        "syntax_missing_equals.toml", "line 6, column 14: invalid TOML (Expected '='"
    ),
    "syntax-unclosed-string": run_case(
        "syntax_unclosed_string.toml", "line 3, column 23: invalid TOML (Illegal character"
    ),
    "syntax-duplicate-key": run_case(
        "syntax_duplicate_key.toml", "line 10, column 12: invalid TOML (Cannot overwrite a value)"
    ),
    "syntax-duplicate-table": run_case(
        "syntax_duplicate_table.toml", "line 28, column 8: invalid TOML (Cannot declare"
    ),
    "syntax-unclosed-array": run_case(
        "syntax_unclosed_array.toml", "end of document: invalid TOML (Unclosed array)"
    ),
    "syntax-decimal-comma": run_case("syntax_bad_number.toml", "line 7, column 20: invalid TOML"),
    "syntax-info": info_case("syntax_missing_equals.toml", "line 6, column 14: invalid TOML"),
    # ---- not a UTF-8 text file, not there, a folder
    "case-latin1": run_case(
        "case_latin1.toml", "line 3: cannot read case file (not UTF-8: invalid continuation byte"
    ),
    "case-utf16": run_case("case_utf16.toml", "line 1: cannot read case file (UTF-16;"),
    "case-empty": run_case("case_empty.toml", "meta.name: required key is missing"),
    "case-missing": run_case("no_such_case.toml", "cannot read case file (No such file"),
    "case-folder": Entry(
        ("run", "{bad}/profiles", "-o", "{out}"), "{bad}/profiles", ("cannot read case file (Is a",)
    ),
    "case-unreadable": Entry(
        ("run", "{tmp}/locked.toml", "-o", "{out}"),
        "{tmp}/locked.toml",
        ("cannot read case file (Permission denied)",),
        prepare=_unreadable_case,
        root_skips=True,
    ),
    # ---- unknown and misspelled keys: the dotted key and a suggestion
    "unknown-key": run_case(
        "unknown_key_misspelled.toml",
        "sample.temperatur_K: unknown key (did you mean 'temperature_K'?)",
    ),
    "unknown-key-case": run_case(
        "unknown_key_case.toml", "sample.Eps_r: unknown key (did you mean 'eps_r'?)"
    ),
    "unknown-table": run_case("unknown_table.toml", "solvr: unknown key (did you mean 'solver'?)"),
    "unknown-species-key": run_case(
        "unknown_species_key.toml", "species.K.D_cm2s: unknown key (did you mean 'D_cm2_s'?)"
    ),
    "unknown-sed-key": run_case(
        "unknown_sed_key.toml", "species.Li.sed.fwhm: unknown key (did you mean 'fwhm_eV'?)"
    ),
    "unknown-stage-key": run_case(
        "unknown_stage_key.toml", "stage.1.potential: unknown key (did you mean 'potential_V'?)"
    ),
    # ---- wrong types
    "type-string": run_case(
        "type_string_for_number.toml", "sample.thickness_um: must be a number, got '2.0'"
    ),
    "type-bool": run_case("type_bool_for_number.toml", "sample.eps_r: must be a number, got true"),
    "type-array": run_case(
        "type_array_for_number.toml", "sample.temperature_K: must be a number, got an array"
    ),
    "type-date": run_case(
        "type_date_for_number.toml", "sample.temperature_K: must be a number, got a date"
    ),
    "type-float-charge": run_case(
        "type_float_charge.toml", "species.K.charge: must be an integer, got 1.5"
    ),
    "type-role": run_case("type_number_for_role.toml", "species.K.role: must be a string, got 2"),
    "type-table": run_case("type_table_for_sample.toml", "sample: must be a table, got 2.0"),
    # ---- non-finite and out-of-range values
    "nan-temperature": run_case(
        "nan_temperature.toml", "sample.temperature_K: must be finite, got nan"
    ),
    "nan-temperature-info": info_case(
        "nan_temperature.toml", "sample.temperature_K: must be finite, got nan"
    ),
    "inf-thickness": run_case("inf_thickness.toml", "sample.thickness_um: must be finite, got inf"),
    "negative-thickness": run_case(
        "negative_thickness.toml", "sample.thickness_um: must be > 0, got -2.0"
    ),
    "zero-temperature": run_case(
        "zero_temperature.toml", "sample.temperature_K: must be > 0, got 0.0"
    ),
    "negative-n-bulk": run_case(
        "negative_n_bulk.toml", "sample.n_bulk_cm3: must be > 0, got -1.4e+22"
    ),
    "eps-r-below-1": run_case("eps_r_below_1.toml", "sample.eps_r: must be >= 1, got 0.5"),
    "negative-D": run_case("negative_D.toml", "species.K.D_cm2_s: must be > 0, got -2e-14"),
    "zero-D": run_case("zero_D.toml", "species.Li.D_cm2_s: must be > 0, got 0.0"),
    "zero-duration": run_case("zero_duration.toml", "stage.1.duration_s: must be > 0, got 0"),
    "nan-potential": run_case("nan_potential.toml", "stage.1.potential_V: must be finite, got nan"),
    "surface-fraction": run_case(
        "surface_fraction_above_1.toml", "stage.1.surface_fraction: must be <= 1, got 1.5"
    ),
    "fwhm-zero": run_case("fwhm_zero.toml", "species.Li.sed.fwhm_eV: must be > 0, got 0.0"),
    "sed-too-wide": run_case(
        "sed_too_wide.toml",
        "species.Li.sed",
        "too large for this temperature",
    ),
    "sed-too-wide-info": info_case("sed_too_wide.toml", "species.Li.sed", "too large"),
    "sed-vacancy-zero": run_case(
        "sed_vacancy_fraction_zero.toml", "species.Li.sed", "vacancy_fraction"
    ),
    "vacancy-fraction-1": run_case(
        "vacancy_fraction_1.toml", "species.Li.sed.vacancy_fraction: must be < 1, got 1.0"
    ),
    # ---- grids
    "grid-spacing-minimum": run_case(
        "grid_spacing_below_minimum.toml", "grid.fine_spacing_nm: must be >= 0.01, got 0.001"
    ),
    "grid-growth-large": run_case("grid_growth_too_large.toml", "grid.growth: must be <= 1.5"),
    "grid-growth-1": run_case("grid_growth_1.toml", "grid.growth: must be > 1, got 1.0"),
    "grid-fine-depth-thickness": run_case(
        "grid_fine_depth_beyond_thickness.toml",
        "grid.fine_depth_nm: must be < the sample thickness (2000.0 nm), got 5000.0",
    ),
    "grid-spacing-coarser": run_case(
        "grid_spacing_above_fine_depth.toml",
        "grid.fine_spacing_nm: must be <= grid.fine_depth_nm (100.0), got 200.0",
    ),
    "grid-too-many-cells": run_case(
        "grid_too_many_cells.toml",
        "grid.fine_spacing_nm: the grid would have about 4.9e+08 cells",
        "more than 1,000,000",
    ),
    "grid-too-many-cells-info": info_case(
        "grid_too_many_cells.toml", "grid.fine_spacing_nm: the grid would have about 4.9e+08"
    ),
    "solver-n-output": run_case(
        "solver_n_output_huge.toml", "solver.n_output: must be <= 10000, got 100000000"
    ),
    "solver-method": run_case(
        "solver_method_typo.toml",
        "solver.method: must be one of 'npp', 'electroneutral', got 'electroneutal' "
        "(did you mean 'electroneutral'?)",
    ),
    # ---- species and stages
    "stage-source": run_case("stage_source_unknown.toml", "stage.1.source: unknown species 'Na'"),
    "stage-both-controls": run_case(
        "stage_both_controls.toml",
        f"stage.1: give exactly one of {CONTROLS} (got potential_V and current_density_A_cm2)",
    ),
    "stage-no-control": run_case(
        "stage_no_control.toml", f"stage.1: give exactly one of {CONTROLS} (got none)"
    ),
    "table-not-increasing": run_case(
        "potential_table_not_increasing.toml",
        "stage.1.potential_table_V: row 3: t_s must increase strictly, got 5.0 after 10.0",
    ),
    "table-row": run_case(
        "potential_table_bad_row.toml",
        "stage.1.potential_table_V: row 1: must be [t_s, value], got an array",
    ),
    "no-native": run_case(
        "no_native_species.toml", 'species: at least one species must have role = "native"'
    ),
    "no-species": run_case("no_species.toml", "species: required: at least one [species.<name>]"),
    "species-name": run_case("species_name_with_dot.toml", "species.'K.39': invalid species name"),
    "no-stage": run_case("no_stage.toml", "stage: required: at least one [[stage]] table"),
    "stage-table": run_case(
        "stage_as_table.toml", "stage: must be an array of tables ([[stage]]), got a table"
    ),
    # ---- [meta]
    "missing-name": run_case("missing_meta_name.toml", "meta.name: required key is missing"),
    "missing-meta": run_case("missing_meta_table.toml", "meta.name: required key is missing"),
    "blank-name": run_case("empty_meta_name.toml", "meta.name: must not be empty"),
    # ---- [[data]] blocks (nppsim fit reads them)
    "data-missing-file": fit_case(
        "data_file_missing.toml",
        "data.1.file: cannot read data file",
        "no_such_file.csv' (No such file or directory)",
    ),
    "data-folder": fit_case(
        "data_file_is_folder.toml", "data.1.file: cannot read data file", "(Is a directory)"
    ),
    "data-unreadable": Entry(
        ("fit", "{tmp}/case.toml", *FIT),
        "{tmp}/case.toml",
        ("data.1.file: cannot read data file", "(Permission denied)"),
        output="fit.json",
        prepare=_unreadable_data,
        root_skips=True,
    ),
    "data-unknown-species": fit_case(
        "data_unknown_species.toml", "data.1.columns.Na: unknown species 'Na'"
    ),
    "data-after-stage": fit_case(
        "data_after_stage_out_of_range.toml",
        "data.1.after_stage: must be <= 1 (the number of stages), got 3",
    ),
    "data-after-stage-0": fit_case(
        "data_after_stage_zero.toml", "data.1.after_stage: must be >= 1, got 0"
    ),
    "data-depth-and-time": fit_case(
        "data_depth_and_time.toml",
        "data.1: give exactly one of depth_column, time_column (got both)",
    ),
    "data-resolution": fit_case(
        "data_negative_resolution.toml", "data.1.depth_resolution_nm: must be >= 0, got -2.0"
    ),
    "data-missing-column": fit_case(
        "data_missing_column.toml",
        "no column 'K_counts' (columns: depth_nm, Li, K)",
        named="{bad}/profiles/good.csv",
    ),
    "data-missing-depth-column": fit_case(
        "data_missing_depth_column.toml",
        "no column 'depth_um' (depth column; did you mean 'depth_nm'?",
        named="{bad}/profiles/good.csv",
    ),
    # ---- real SIMS exports: quantification and depth calibration (issue 16)
    "data-counts-without-normalize": fit_case(
        "data_counts_without_normalize.toml",
        "is not physical (more than 100",
        'set normalize = "bulk" or "matrix"',
        named="{bad}/profiles/counts.csv",
    ),
    "data-cut-before-bulk": fit_case(
        "data_cut_before_bulk.toml",
        "the profile does not reach the bulk: the native signal 'Li' still changes",
        "give bulk_level (the native signal of the pristine glass) or a longer profile",
        named="{bad}/profiles/counts_cut.csv",
    ),
    "data-matrix-zero": fit_case(
        "data_matrix_zero.toml",
        "line 6: column 'B': matrix counts 0.0 are not > 0",
        named="{bad}/profiles/matrix_zero.csv",
    ),
    "data-matrix-column-missing": fit_case(
        "data_matrix_column_missing.toml",
        "no column '11B+' (matrix_column; columns: depth_nm, Li, K, B)",
        named="{bad}/profiles/counts.csv",
    ),
    "data-matrix-without-column": fit_case(
        "data_matrix_without_column.toml",
        'data.1.matrix_column: normalize = "matrix" needs the column of the matrix signal',
    ),
    "data-fit-range-empty": fit_case(
        "data_fit_range_empty.toml",
        "fit_range_nm [100, 200] holds no row (the file depths run 1-24 nm)",
        named="{bad}/profiles/counts.csv",
    ),
    "data-header-row-past-end": fit_case(
        "data_header_row_past_end.toml",
        "line 99: header_row points to a line past the end of the file",
        named="{bad}/profiles/counts.csv",
    ),
    "data-background-unknown-species": fit_case(
        "data_background_unknown_species.toml",
        "data.1.background.Na: species not in data.1.columns: 'Na'",
    ),
    "data-background-on-fractions": fit_case(
        "data_background_on_fractions.toml", "data.1.background: only used with counts"
    ),
    "data-negative-depth-offset": fit_case(
        "data_negative_depth_offset.toml",
        "line 2: depth -4 nm < 0 after depth_scale 1 and depth_offset_nm -5",
        named="{bad}/profiles/counts.csv",
    ),
    "fit-output-suffix": Entry(
        ("fit", "{bad}/valid_fit_case.toml", "--free", "species.K.D_cm2_s", "-o", "{out}"),
        "{out}",
        ("cannot write a fit as '.txt': use .json", ".csv (the fitted curves)"),
        output="fit.txt",
    ),
    "data-free-after-stage": Entry(
        ("fit", "{bad}/valid_fit_case.toml", "--free", "data.1.after_stage", "-o", "{out}"),
        "--free data.1.after_stage",
        ("a whole number that selects rows or stages",),
        output="fit.json",
    ),
    # ---- --set values
    "set-not-a-number": set_value(
        "sample.temperature_K=abc", "sample.temperature_K: must be a number, got 'abc'"
    ),
    "set-unknown-key": set_value("nonsense.key=1", "nonsense: unknown key"),
    "set-misspelled-key": set_value(
        "sample.temprature_K=400", "sample.temprature_K: unknown key (did you mean"
    ),
    "set-no-stage": set_value(
        "stage.2.potential_V=1.0", "stage.2: out of range: the case has 1 stage(s)"
    ),
    "set-unknown-species": set_value("species.Na.D_cm2_s=1e-12", "species.Na: unknown species"),
    "set-negative": set_value("species.K.D_cm2_s=-1e-14", "species.K.D_cm2_s: must be > 0"),
    "set-nan": set_value("species.Li.sed.fwhm_eV=nan", "species.Li.sed.fwhm_eV: must be finite"),
    "set-immobile-one": set_value(
        "species.Li.immobile_fraction=1.0", "species.Li.immobile_fraction: must be < 1, got 1.0"
    ),
    "set-immobile-negative": set_value(
        "species.Li.immobile_fraction=-0.1", "species.Li.immobile_fraction: must be >= 0"
    ),
    "set-immobile-foreign": set_value(
        "species.K.immobile_fraction=0.1",
        "species.K.immobile_fraction: only a native species has an immobile fraction",
    ),
    "immobile-above-initial": run_case(
        "immobile_above_initial.toml",
        "species.Li.immobile_fraction: must be below initial_fraction (0.5), got 0.6",
    ),
    "d0-with-d": run_case(
        "d0_with_d.toml",
        "species.K.D0_cm2_s: give either D_cm2_s or D0_cm2_s with activation_energy_eV, not both",
    ),
    "set-d0-alone": set_value(
        "species.K.D0_cm2_s=1e-3", "species.K.activation_energy_eV: required with D0_cm2_s"
    ),
    "set-activation-alone": set_value(
        "species.K.activation_energy_eV=0.9",
        "species.K.D0_cm2_s: required with activation_energy_eV",
    ),
    "activation-underflow": run_case(
        "activation_underflow.toml",
        "species.K.activation_energy_eV: D0 exp(-E_a / k_B T) = 0 cm^2/s at 350 K",
    ),
    "set-grid": set_value(
        "grid.fine_spacing_nm=0.001", "grid.fine_spacing_nm: must be >= 0.01, got 0.001"
    ),
    "set-no-equals": set_value(
        "sample.temperature_K",
        "--set: 'sample.temperature_K': expected KEY=VALUE",
        named="--set",
    ),
}

LATE_VALUE_ENTRIES: dict[str, Entry] = {
    # ---- round two (issue 17): values that passed validation and failed later
    "n-bulk-tiny": set_value(
        "sample.n_bulk_cm3=1e-300", "sample.n_bulk_cm3: must be >= 1e+10", "got 1e-300"
    ),
    "duration-denormal": set_value(
        "stage.1.duration_s=1e-310", "stage.1.duration_s: must be >= 1e-09 s"
    ),
    "species-name-comma": run_case(
        "species_name_comma.toml", "species.K,Rb: invalid species name", ", ; \" '"
    ),
    "fit-free-whole-number": Entry(
        ("fit", "{bad}/valid_fit_case.toml", "--free", "species.K.charge", *FIT[2:]),
        "--free species.K.charge",
        ("a whole-number setting, not a value a fit can vary",),
        output="fit.json",
    ),
}
