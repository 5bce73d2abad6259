"""Validation: a parsed TOML document read into the frozen dataclasses of the schema."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nppsim.case.keys import (
    _DATA_KEYS,
    _FORBIDDEN_NAME_CHARS,
    _META_KEYS,
    _PARAM_SHAPE,
    _SAMPLE_KEYS,
    _SED_KEYS,
    _SHAPE_PARAMS,
    _SPECIES_KEYS,
    _STAGE_KEYS,
    _TABLE_KEYS,
    _TOP_KEYS,
    BACK_CONDITIONS,
    CONTROL_KEYS,
    DEFAULT_RELATIVE_UNCERTAINTY,
    DEFAULT_UNCERTAINTY_FLOOR,
    FILLINGS,
    MAX_GRID_CELLS,
    MAX_GRID_GROWTH,
    MAX_N_OUTPUT,
    METHODS,
    MIN_FINE_SPACING_NM,
    MIN_N_BULK_CM3,
    MIN_STAGE_DURATION_S,
    NORMALIZATIONS,
    ROLES,
    SED_REFERENCES,
    SED_SHAPES,
    _bound,
    _clean,
    _did_you_mean,
    _join,
    _Reader,
    _show,
)
from nppsim.case.schema import (
    Case,
    DataSpec,
    GridConfig,
    Meta,
    Sample,
    SEDSpec,
    SolverConfig,
    SpeciesConfig,
    Stage,
)
from nppsim.units import K_B_EV_K


def _build_case(
    doc: Mapping[str, Any], label: str, base_dir: Path | None, path: Path | None
) -> Case:
    r = _Reader(label)
    r.check_keys(doc, "", _TOP_KEYS)
    meta = _read_meta(r, doc)
    sample = _read_sample(r, doc)
    species = _read_species(r, doc, sample.temperature_K)
    names = tuple(s.name for s in species)
    stages = _read_stages(r, doc, names)
    grid = _read_grid(r, doc, sample)
    solver = _read_solver(r, doc)
    base = Path.cwd() if base_dir is None else Path(base_dir)
    data = _read_data(r, doc, names, len(stages), base)
    return mark_validated(
        Case(
            meta=meta,
            sample=sample,
            species=species,
            stages=stages,
            grid=grid,
            solver=solver,
            data=data,
            path=path,
            raw=doc,
            base_dir=base_dir,
            source_label=label,
        )
    )


#: attribute set on the instances this module built (validated); `dataclasses.replace` and a
#: Case built by hand make instances without it
_VALIDATED_ATTR = "_nppsim_validated"


def mark_validated(case: Case) -> Case:
    """Record that `case` passed the validation (returns it). Only for cases built from a
    validated document or from a validated case by a change known to keep it valid: `simulate`
    then does not validate it again."""
    object.__setattr__(case, _VALIDATED_ATTR, True)
    return case


def is_validated(case: Case) -> bool:
    """True if this Case instance was built by the validating reader (`mark_validated`)."""
    return bool(getattr(case, "__dict__", {}).get(_VALIDATED_ATTR, False))


def _read_meta(r: _Reader, doc: Mapping[str, Any]) -> Meta:
    if "meta" not in doc:
        r.fail("meta.name", "required key is missing (add a [meta] table with name = ...)")
    t = r.table(doc["meta"], "meta")
    r.check_keys(t, "meta", _META_KEYS)
    return Meta(
        name=r.get_string(t, "meta", "name"),
        description=r.get_string(t, "meta", "description", "", allow_empty=True),
        source=r.get_string(t, "meta", "source", "", allow_empty=True),
    )


def _read_sample(r: _Reader, doc: Mapping[str, Any]) -> Sample:
    if "sample" not in doc:
        r.fail("sample", "required table is missing (thickness_um, temperature_K, ...)")
    t = r.table(doc["sample"], "sample")
    r.check_keys(t, "sample", _SAMPLE_KEYS)
    return Sample(
        thickness_um=r.get_number(t, "sample", "thickness_um", gt=0.0),
        temperature_K=r.get_number(t, "sample", "temperature_K", gt=0.0),
        n_bulk_cm3=_n_bulk(r, t),
        eps_r=r.get_number(t, "sample", "eps_r", ge=1.0),
    )


def _n_bulk(r: _Reader, t: Mapping[str, Any]) -> float:
    n = r.get_number(t, "sample", "n_bulk_cm3", gt=0.0)
    if n < MIN_N_BULK_CM3:
        r.fail(
            "sample.n_bulk_cm3",
            f"must be >= {MIN_N_BULK_CM3:g} (ion-conducting glasses hold 1e19 to 1e23 mobile "
            f"ions per cm^3), got {_show(n)}",
        )
    return n


def _check_species_name(r: _Reader, name: object) -> str:
    if not isinstance(name, str):
        r.fail("species", f"species names must be strings, got {_show(name)}")
    if not name or not name.isprintable() or _FORBIDDEN_NAME_CHARS.search(name):
        r.fail(
            _join("species", name),
            "invalid species name: it must be non-empty and free of whitespace and "
            "the characters . / \\ * ? = [ ] , ; \" ' (they have meanings in dotted keys, "
            "patterns and CSV files)",
        )
    return name


def _read_diffusivity(
    r: _Reader, t: Mapping[str, Any], key: str, temperature_K: float
) -> tuple[float, float | None, float | None]:
    """(D_cm2_s at temperature_K, D0_cm2_s or None, activation_energy_eV or None) of a species
    table: D_cm2_s as given, or D0 exp(-E_a / (k_B T)) (MODEL.md section 10)."""
    has_d0, has_ea = "D0_cm2_s" in t, "activation_energy_eV" in t
    if not (has_d0 or has_ea):
        return r.get_number(t, key, "D_cm2_s", gt=0.0), None, None
    if "D_cm2_s" in t:
        given = "D0_cm2_s" if has_d0 else "activation_energy_eV"
        r.fail(
            f"{key}.{given}",
            "give either D_cm2_s or D0_cm2_s with activation_energy_eV, not both",
        )
    if not has_d0:
        r.fail(f"{key}.D0_cm2_s", "required with activation_energy_eV (D = D0 exp(-E_a / k_B T))")
    if not has_ea:
        r.fail(f"{key}.activation_energy_eV", "required with D0_cm2_s (D = D0 exp(-E_a / k_B T))")
    d0 = r.get_number(t, key, "D0_cm2_s", gt=0.0)
    e_a = r.get_number(t, key, "activation_energy_eV", ge=0.0)
    d = d0 * math.exp(-e_a / (K_B_EV_K * temperature_K))
    if not (d > 0.0 and math.isfinite(d)):
        r.fail(
            f"{key}.activation_energy_eV",
            f"D0 exp(-E_a / k_B T) = {d:g} cm^2/s at {temperature_K:g} K: not a positive "
            "finite diffusion coefficient",
        )
    return d, d0, e_a


def _read_species(
    r: _Reader, doc: Mapping[str, Any], temperature_K: float
) -> tuple[SpeciesConfig, ...]:
    if "species" not in doc:
        r.fail("species", "required: at least one [species.<name>] table")
    tables = r.table(doc["species"], "species")
    if not tables:
        r.fail("species", "at least one species is required")
    out = []
    for name, value in tables.items():
        name = _check_species_name(r, name)
        key = _join("species", name)
        t = r.table(value, key)
        r.check_keys(t, key, _SPECIES_KEYS)
        role = r.get_string(t, key, "role", choices=ROLES)
        charge = r.get_integer(t, key, "charge", 1)
        if charge == 0:
            r.fail(f"{key}.charge", "must be a nonzero integer, got 0")
        D, D0, E_a = _read_diffusivity(r, t, key, temperature_K)
        initial = r.get_number(t, key, "initial_fraction", 1.0 if role == "native" else 0.0, ge=0.0)
        back = r.get_string(
            t, key, "back", "reservoir" if role == "native" else "absorbing", BACK_CONDITIONS
        )
        if "sed" in t and "D_table" in t:
            r.fail(key, "give either sed or D_table, not both")
        sed = _read_sed(r, t["sed"], f"{key}.sed") if "sed" in t else None
        if sed is not None and sed.reference == "pristine" and not initial > 0:
            r.fail(
                f"{key}.initial_fraction",
                "must be > 0 for a species with an SED (its pristine density is the SED's "
                f'reference density; or set sed.reference = "stage_start"), got '
                f"{_show(initial)}",
            )
        immobile = r.get_number(t, key, "immobile_fraction", 0.0, ge=0.0, lt=1.0)
        if immobile > 0.0 and role != "native":
            r.fail(
                f"{key}.immobile_fraction",
                f"only a native species has an immobile fraction, {name} is {role}",
            )
        if immobile > 0.0 and not immobile < initial:
            r.fail(
                f"{key}.immobile_fraction",
                f"must be below initial_fraction ({_show(initial)}), got {_show(immobile)}",
            )
        D_table = None
        if "D_table" in t:
            tkey = f"{key}.D_table"
            rows = r.rows(t["D_table"], tkey, ("fraction", "D_cm2_s"), min_rows=2)
            for j, (frac, Dj) in enumerate(rows, 1):
                r.number(frac, tkey, where=f"row {j}, fraction", ge=0.0)
                r.number(Dj, tkey, where=f"row {j}, D_cm2_s", gt=0.0)
            r.increasing([row[0] for row in rows], tkey, "fraction")
            D_table = tuple((row[0], row[1]) for row in rows)
        out.append(
            SpeciesConfig(
                name=name,
                role=role,
                D_cm2_s=D,
                charge=charge,
                initial_fraction=initial,
                back=back,
                sed=sed,
                D_table=D_table,
                immobile_fraction=immobile,
                D0_cm2_s=D0,
                activation_energy_eV=E_a,
            )
        )
    if not any(s.role == "native" for s in out):
        r.fail("species", 'at least one species must have role = "native"')
    return tuple(out)


def _read_sed(r: _Reader, value: object, key: str) -> SEDSpec:
    t = r.table(value, key)
    r.check_keys(t, key, _SED_KEYS)
    shape = r.get_string(t, key, "shape", "gaussian", SED_SHAPES)
    for param, owner in _PARAM_SHAPE.items():
        if param in t and owner != shape:
            r.fail(f"{key}.{param}", f'only used with shape = "{owner}" (shape is "{shape}")')
    kwargs: dict[str, Any] = {
        "shape": shape,
        "vacancy_fraction": r.get_number(t, key, "vacancy_fraction", 0.10, ge=0.0, lt=1.0),
        "filling": r.get_string(t, key, "filling", "step", FILLINGS),
        "reference": r.get_string(t, key, "reference", "pristine", SED_REFERENCES),
    }
    for param in _SHAPE_PARAMS[shape]:
        if param not in t and shape != "gaussian":  # only the Gaussian has a default width
            r.fail(f"{key}.{param}", f'required for shape = "{shape}"')
    if shape == "gaussian":
        kwargs["fwhm_eV"] = r.get_number(t, key, "fwhm_eV", 0.25, gt=0.0)
    elif shape == "gaussians":
        ckey = f"{key}.components"
        rows = r.rows(t["components"], ckey, ("weight", "center_eV", "fwhm_eV"))
        for j, (w, _c, fw) in enumerate(rows, 1):
            r.number(w, ckey, where=f"row {j}, weight", gt=0.0)
            r.number(fw, ckey, where=f"row {j}, fwhm_eV", gt=0.0)
        kwargs["components"] = tuple((w, c, fw) for w, c, fw in rows)
    elif shape == "box":
        kwargs["width_eV"] = r.get_number(t, key, "width_eV", gt=0.0)
    elif shape == "exponential":
        kwargs["tail_eV"] = r.get_number(t, key, "tail_eV", gt=0.0)
    else:
        ekey, dkey = f"{key}.energies_eV", f"{key}.density"
        energies = [
            r.number(x, ekey, where=f"value {j}")
            for j, x in enumerate(r.array(t["energies_eV"], ekey), 1)
        ]
        density = [
            r.number(x, dkey, where=f"value {j}", ge=0.0)
            for j, x in enumerate(r.array(t["density"], dkey), 1)
        ]
        if len(energies) < 2:
            r.fail(ekey, f"needs at least 2 values, got {len(energies)}")
        r.increasing(energies, ekey, "energy", item="value")
        if len(density) != len(energies):
            r.fail(dkey, f"needs {len(energies)} values (one per energy), got {len(density)}")
        if not any(d > 0 for d in density):
            r.fail(dkey, "needs at least one value > 0")
        kwargs["energies_eV"] = tuple(energies)
        kwargs["density"] = tuple(density)
    return SEDSpec(**kwargs)


def _read_stages(r: _Reader, doc: Mapping[str, Any], names: Sequence[str]) -> tuple[Stage, ...]:
    if "stage" not in doc:
        r.fail("stage", "required: at least one [[stage]] table")
    tables = r.array_of_tables(doc, "stage")
    if not tables:
        r.fail("stage", "at least one [[stage]] is required")
    out = []
    for i, t in enumerate(tables, 1):
        key = f"stage.{i}"
        r.check_keys(t, key, _STAGE_KEYS)
        duration = r.get_number(t, key, "duration_s", gt=0.0)
        if duration < MIN_STAGE_DURATION_S:
            r.fail(
                f"{key}.duration_s",
                f"must be >= {MIN_STAGE_DURATION_S:g} s (no time step fits in a shorter stage), "
                f"got {_show(duration)}",
            )
        source = r.get_string(t, key, "source", None)
        if source is not None and source not in names:
            r.fail(f"{key}.source", f"unknown species {source!r}{_did_you_mean(source, names)}")
        if "surface_fraction" in t and source is None:
            r.fail(f"{key}.surface_fraction", "only used with source (this stage has none)")
        surface = r.get_number(t, key, "surface_fraction", 1.0, ge=0.0, le=1.0)
        given = [c for c in CONTROL_KEYS if c in t]
        if len(given) != 1:
            got = "none" if not given else ", ".join(given[:-1]) + " and " + given[-1]
            r.fail(key, f"give exactly one of {', '.join(CONTROL_KEYS)} (got {got})")
        control = given[0]
        kwargs: dict[str, Any] = {}
        if "_table_" in control:
            ckey = f"{key}.{control}"
            rows = r.rows(t[control], ckey, ("t_s", "value"))
            if rows[0][0] != 0.0:
                r.fail(ckey, f"row 1: t_s must be 0 (the stage start), got {_show(rows[0][0])}")
            r.increasing([row[0] for row in rows], ckey, "t_s")
            kwargs[control] = tuple((row[0], row[1]) for row in rows)
        else:
            kwargs[control] = r.get_number(t, key, control)
        out.append(Stage(duration_s=duration, source=source, surface_fraction=surface, **kwargs))
    return tuple(out)


def _optional_table(r: _Reader, doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    t = r.table(doc.get(name, {}), name)
    r.check_keys(t, name, _TABLE_KEYS[name])
    return t


def _read_grid(r: _Reader, doc: Mapping[str, Any], sample: Sample) -> GridConfig:
    t = _optional_table(r, doc, "grid")
    d = GridConfig()
    depth = r.get_number(t, "grid", "fine_depth_nm", d.fine_depth_nm, gt=0.0)
    spacing = r.get_number(t, "grid", "fine_spacing_nm", d.fine_spacing_nm, ge=MIN_FINE_SPACING_NM)
    growth = r.get_number(t, "grid", "growth", d.growth, gt=1.0, le=MAX_GRID_GROWTH)
    if spacing > depth:
        r.fail(
            "grid.fine_spacing_nm",
            f"must be <= grid.fine_depth_nm ({_show(depth)}), got {_show(spacing)}",
        )
    thickness_nm = sample.thickness_um * 1.0e3
    if not math.isfinite(thickness_nm):
        r.fail("sample.thickness_um", f"too large, got {_show(sample.thickness_um)}")
    if not depth < thickness_nm:
        r.fail(
            "grid.fine_depth_nm",
            f"must be < the sample thickness ({_show(thickness_nm)} nm), got {_show(depth)}",
        )
    n_fine, n_graded = _grid_cell_counts(thickness_nm, depth, spacing, growth)
    if not n_fine + n_graded <= MAX_GRID_CELLS:
        key, fix = (
            ("grid.fine_spacing_nm", "a larger fine_spacing_nm or a smaller fine_depth_nm")
            if n_fine >= n_graded
            else ("grid.growth", "a larger growth")
        )
        r.fail(
            key,
            f"the grid would have about {n_fine + n_graded:.3g} cells ({n_fine:.3g} of "
            f"{_bound(spacing)} nm to {_bound(depth)} nm, {n_graded:.3g} growing by "
            f"{_bound(growth)} to the {_bound(thickness_nm)} nm thickness), more than "
            f"{MAX_GRID_CELLS:,}; use {fix}",
        )
    return GridConfig(fine_depth_nm=depth, fine_spacing_nm=spacing, growth=growth)


def _grid_cell_counts(
    thickness_nm: float, fine_depth_nm: float, fine_spacing_nm: float, growth: float
) -> tuple[float, float]:
    """(uniform cells, graded cells) of `solvers.grid.graded_faces_nm`, estimated in floats (no
    grid is built; infinite for an overflowing thickness)."""
    n_fine = max(1.0, round(min(fine_depth_nm, thickness_nm) / fine_spacing_nm))
    rest = thickness_nm - n_fine * fine_spacing_nm
    if not rest > 0.0:
        return float(max(1.0, round(thickness_nm / fine_spacing_nm))), 0.0
    # cells h g, h g^2, ... h g^k cover the rest when h g (g^k - 1) / (g - 1) >= rest
    ratio = rest * (growth - 1.0) / (fine_spacing_nm * growth)
    return n_fine, math.ceil(math.log1p(ratio) / math.log(growth)) if ratio < math.inf else ratio


def _read_solver(r: _Reader, doc: Mapping[str, Any]) -> SolverConfig:
    t = _optional_table(r, doc, "solver")
    d = SolverConfig()
    return SolverConfig(
        method=r.get_string(t, "solver", "method", d.method, METHODS),
        rtol=r.get_number(t, "solver", "rtol", d.rtol, gt=0.0, lt=1.0),
        atol=r.get_number(t, "solver", "atol", d.atol, gt=0.0),
        n_output=r.get_integer(t, "solver", "n_output", d.n_output, ge=1, le=MAX_N_OUTPUT),
        dt_initial_s=r.get_number(t, "solver", "dt_initial_s", d.dt_initial_s, gt=0.0),
        max_steps=r.get_integer(t, "solver", "max_steps", d.max_steps, ge=1),
    )


def _number_map(
    r: _Reader, value: object, key: str, allowed: Sequence[str], lower: str
) -> tuple[tuple[str, float], ...]:
    """A table species -> number (> 0 with lower="gt", >= 0 with "ge") over fitted species."""
    t = r.table(value, key)
    if not t:
        r.fail(key, "must name at least one species, e.g. { K = 1.0 }")
    out = []
    for species, number in t.items():
        skey = _join(key, species)
        if species not in allowed:
            r.fail(
                skey,
                f"species not in {key.rsplit('.', 1)[0]}.columns: {_show(species)}"
                f"{_did_you_mean(species, allowed)}",
            )
        out.append((species, r.number(number, skey, **{lower: 0.0})))
    return tuple(out)


def _column_map(
    r: _Reader, value: object, key: str, allowed: Sequence[str], what: str
) -> tuple[tuple[str, str], ...]:
    t = r.table(value, key)
    if not t:
        r.fail(key, 'must name at least one species, e.g. { Li = "Li" }')
    out = []
    for species, column in t.items():
        skey = _join(key, species)
        if species not in allowed:
            r.fail(skey, f"{what} {_show(species)}{_did_you_mean(species, allowed)}")
        out.append((species, r.string(column, skey)))
    return tuple(out)


def _read_data(
    r: _Reader, doc: Mapping[str, Any], names: Sequence[str], n_stages: int, base: Path
) -> tuple[DataSpec, ...]:
    if "data" not in doc:
        return ()
    out = []
    for i, t in enumerate(r.array_of_tables(doc, "data"), 1):
        key = f"data.{i}"
        r.check_keys(t, key, _DATA_KEYS)
        file = _read_data_file(r, t, key, base)
        after = r.get_integer(t, key, "after_stage", n_stages, ge=1)
        if after > n_stages:
            r.fail(
                f"{key}.after_stage", f"must be <= {n_stages} (the number of stages), got {after}"
            )
        depth_col = r.get_string(t, key, "depth_column", None)
        time_col = r.get_string(t, key, "time_column", None)
        if (depth_col is None) == (time_col is None):
            got = "both" if depth_col is not None else "neither"
            r.fail(key, f"give exactly one of depth_column, time_column (got {got})")
        rate = r.get_number(t, key, "sputter_rate_nm_s", None, gt=0.0)
        crater = r.get_number(t, key, "crater_depth_nm", None, gt=0.0)
        if depth_col is not None:
            for k in ("sputter_rate_nm_s", "crater_depth_nm"):
                if k in t:
                    r.fail(f"{key}.{k}", "only used with time_column (this block has depth_column)")
        elif (rate is None) == (crater is None):
            got = "both" if rate is not None else "neither"
            r.fail(
                key,
                f"time_column needs exactly one of sputter_rate_nm_s, crater_depth_nm (got {got})",
            )
        if "columns" not in t:
            r.fail(f"{key}.columns", 'required key is missing, e.g. columns = { Li = "Li" }')
        columns = _column_map(r, t["columns"], f"{key}.columns", names, "unknown species")
        fitted = [s for s, _ in columns]
        unc = None
        if "uncertainty_columns" in t:
            unc = _column_map(
                r,
                t["uncertainty_columns"],
                f"{key}.uncertainty_columns",
                fitted,
                f"species not in {key}.columns:",
            )
        normalize = r.get_string(t, key, "normalize", "none", NORMALIZATIONS)
        counts = normalize != "none"
        matrix = r.get_string(t, key, "matrix_column", None)
        if normalize == "matrix" and matrix is None:
            r.fail(
                f"{key}.matrix_column",
                'normalize = "matrix" needs the column of the matrix signal, e.g. '
                'matrix_column = "11B+"',
            )
        if matrix is not None and normalize != "matrix":
            r.fail(
                f"{key}.matrix_column", f'only used with normalize = "matrix" (got "{normalize}")'
            )
        tables = {}
        for name, lower in (("sensitivity", "gt"), ("background", "ge")):
            if name in t and not counts:
                r.fail(
                    f"{key}.{name}",
                    'only used with counts (normalize = "bulk" or "matrix"); the values of this '
                    "block are fractions",
                )
            tables[name] = (
                _number_map(r, t[name], f"{key}.{name}", fitted, lower) if name in t else None
            )
        bulk_level = r.get_number(t, key, "bulk_level", None, gt=0.0)
        if bulk_level is not None and not counts:
            r.fail(f"{key}.bulk_level", 'only used with normalize = "bulk" or "matrix"')
        fit_range = None
        if "fit_range_nm" in t:
            rkey = f"{key}.fit_range_nm"
            pair = r.array(t["fit_range_nm"], rkey)
            if len(pair) != 2:
                r.fail(rkey, f"must be [low, high] (nm), got {_show(pair)}")
            low = r.number(pair[0], rkey, where="low", ge=0.0)
            high = r.number(pair[1], rkey, where="high")
            if not high > low:
                r.fail(rkey, f"high must be > low, got [{_show(low)}, {_show(high)}]")
            fit_range = (low, high)
        header_row = r.get_integer(t, key, "header_row", None, ge=1)
        relative_default = 0.0 if counts else DEFAULT_RELATIVE_UNCERTAINTY
        out.append(
            DataSpec(
                file=file,
                after_stage=after,
                columns=columns,
                depth_column=depth_col,
                time_column=time_col,
                sputter_rate_nm_s=rate,
                crater_depth_nm=crater,
                depth_resolution_nm=r.get_number(t, key, "depth_resolution_nm", 0.0, ge=0.0),
                mixing_nm=r.get_number(t, key, "mixing_nm", 0.0, ge=0.0),
                information_nm=r.get_number(t, key, "information_nm", 0.0, ge=0.0),
                uncertainty_columns=unc,
                relative_uncertainty=r.get_number(
                    t, key, "relative_uncertainty", relative_default, ge=0.0
                ),
                # a zero floor would divide by zero where a measured fraction is 0
                uncertainty_floor=r.get_number(
                    t, key, "uncertainty_floor", DEFAULT_UNCERTAINTY_FLOOR, gt=0.0
                ),
                normalize=normalize,
                header_row=header_row,
                matrix_column=matrix,
                sensitivity=tables["sensitivity"],
                background=tables["background"],
                bulk_level=bulk_level,
                fit_range_nm=fit_range,
                depth_scale=r.get_number(t, key, "depth_scale", 1.0, gt=0.0),
                depth_offset_nm=r.get_number(t, key, "depth_offset_nm", 0.0),
            )
        )
    return tuple(out)


def _read_data_file(r: _Reader, t: Mapping[str, Any], key: str, base: Path) -> Path:
    fkey = f"{key}.file"
    name = r.get_string(t, key, "file")
    try:
        path = (base / Path(name).expanduser()).resolve()
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        r.fail(fkey, f"cannot read data file {_clean(str(base / name))!r} ({exc.strerror or exc})")
    except (ValueError, RuntimeError) as exc:  # embedded NUL, symlink loops
        r.fail(fkey, f"invalid file name {_show(name)} ({_clean(str(exc))})")
    return path
