"""Verification of the full NPP solver against exact solutions (MODEL.md section 8, items 1-4).

Each test states the exact solution it checks in its docstring.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from nppsim import units
from solvers import npp
from solvers.grid import cell_centers_nm

N_BULK = 1.4e22
T_K = 350.0


def _scaled_charge(sol, problem):
    """Charge passed through the front, as (fraction of n_bulk) * nm."""
    return sol.front_charge_C_cm2 / units.current_density_A_cm2(1.0, problem.n_bulk_cm3)


def test_ohm_pristine_sample_carries_sigma_U_over_L(build):
    """Uniform sample, native ions injected at the front and discharged at the back:
    the steady current is j = sigma U / L with sigma = e^2 n D / (k_B T) (to 1e-6)."""
    D, U, L_nm = 1.0e-12, 0.1, 1000.0
    pr = build.problem(
        [build.species("Li", D)], [build.stage(1.0, 0, potential_V=U)], thickness_nm=L_nm,
        spacing_nm=2.0, n_output=4,
    )  # fmt: skip
    sol = npp.solve(pr)
    assert sol.completed, sol.message
    sigma = units.conductivity_S_cm(N_BULK, D, T_K)
    expected = sigma * U / (L_nm / units.NM_PER_CM)
    np.testing.assert_allclose(sol.front_current_A_cm2[-1], expected, rtol=1e-6)
    np.testing.assert_allclose(sol.fractions[-1, 0], 1.0, atol=1e-9)


def _gouy_chapman_depth(psi, psi0, lam):
    """Exact depth (same unit as lam) at which the potential of a single-carrier depletion
    layer (lam^2 psi'' = 1 - exp(-psi), psi(0) = psi0, psi(inf) = 0) has fallen to psi."""

    def integrand(p):
        return 1.0 / np.sqrt(2.0 * (p + np.expm1(-p)))

    value, _ = integrate.quad(integrand, psi, psi0, epsabs=1e-13, epsrel=1e-11, limit=200)
    return lam * value


@pytest.mark.parametrize("U", [0.02, 0.1])
def test_boltzmann_equilibrium_and_gouy_chapman_layer(build, U):
    """Blocking front at potential U, reservoir back at 0: at equilibrium c = exp(-psi)
    everywhere (Boltzmann) and psi(x) is the single-carrier Gouy-Chapman depletion layer
    x(psi) = lambda_D * int_psi^psi0 dp / sqrt(2 (p + e^-p - 1)), resolved by the grid."""
    L_nm = 5.0
    pr = build.problem(
        [build.species("Li", 1.0e-12)], [build.stage(10.0, None, potential_V=U)],
        thickness_nm=L_nm, fine_depth_nm=0.4, spacing_nm=0.001, growth=1.05, n_output=2,
        rtol=1e-6, atol=1e-10,
    )  # fmt: skip
    sol = npp.solve(pr)
    assert sol.completed, sol.message
    vt = units.thermal_voltage_V(T_K)
    psi = sol.potential_V[-1] / vt
    c = sol.fractions[-1, 0]
    np.testing.assert_allclose(c * np.exp(psi), 1.0, rtol=1e-8)
    lam = npp.debye_length_nm(pr)
    x = sol.x_centers_nm
    psi0 = U / vt
    sel = (psi > 0.05 * psi0) & (x < 0.4)
    x_exact = np.array([_gouy_chapman_depth(p, psi0, lam) for p in psi[sel]])
    # second-order scheme with h = lambda/29: depth error well below 1e-3 lambda
    assert np.max(np.abs(x_exact - x[sel])) < 1e-3 * lam


def _travelling_front_problem(build, *, spacing_nm=0.25, rtol=1e-5):
    d_native, d_foreign, v_nm_s = 1.0e-12, 0.5e-12, 20.0
    j = units.current_density_A_cm2(v_nm_s, N_BULK)
    pr = build.problem(
        [build.species("Na", d_native), build.species("K", d_foreign, initial=0.0,
                                                      back="absorbing")],
        [build.stage(15.0, 1, current_A_cm2=j)], thickness_nm=2000.0, fine_depth_nm=450.0,
        spacing_nm=spacing_nm, n_output=3, rtol=rtol, atol=1e-10,
    )  # fmt: skip
    dn, df = d_native * units.CM2_S_TO_NM2_S, d_foreign * units.CM2_S_TO_NM2_S
    width_nm = df * dn / (v_nm_s * (dn - df))
    return pr, j, width_nm


def test_galvanostatic_travelling_front_is_logistic(build):
    """Constant D_N > D_F, constant current: the foreign profile travels as
    c_F = 1 / (1 + exp((x - x_f)/w)), w = D_F D_N / (v (D_N - D_F)), v = j / (e n_bulk)
    (field-assisted ion exchange, Abou-el-leil & Cooper 1979): max error < 1e-3 once
    x_f > 10 w; the front moves at v. The control holds the total front current (ionic plus
    the displacement current that charges the surface) at j, so the ionic current reaches j
    once the surface is charged (dielectric relaxation, microseconds)."""
    pr, j, w = _travelling_front_problem(build)
    sol = npp.solve(pr)
    assert sol.completed, sol.message
    x = sol.x_centers_nm
    cf = sol.fractions[-1, 1]
    k = np.nonzero(cf < 0.5)[0][0]
    x_f = x[k - 1] + (cf[k - 1] - 0.5) / (cf[k - 1] - cf[k]) * (x[k] - x[k - 1])
    assert x_f > 10 * w
    logistic = 1.0 / (1.0 + np.exp((x - x_f) / w))
    assert np.max(np.abs(cf - logistic)) < 1e-3
    np.testing.assert_allclose(sol.fractions[-1, 0] + cf, 1.0, atol=1e-5)
    late = sol.front_time_s > 2.0
    np.testing.assert_allclose(sol.front_current_A_cm2[late], j, rtol=1e-7)
    # the front advances at v = j / (e n_bulk) = 20 nm/s
    cf_mid = sol.fractions[-2, 1]
    k = np.nonzero(cf_mid < 0.5)[0][0]
    x_f_mid = x[k - 1] + (cf_mid[k - 1] - 0.5) / (cf_mid[k - 1] - cf_mid[k]) * (x[k] - x[k - 1])
    speed = (x_f - x_f_mid) / (sol.times_s[-1] - sol.times_s[-2])
    np.testing.assert_allclose(speed, 20.0, rtol=2e-3)


def test_charge_balance_galvanostatic(build):
    """Integral of the foreign density = integral of the ionic front current dt / e (to 1e-9
    relative); at constant total current j the ionic charge is j t less the small charge
    stored on the surface (lambda^2 E(0), ~1e-6 of the total here)."""
    pr, j, _ = _travelling_front_problem(build, spacing_nm=1.0, rtol=1e-4)
    sol = npp.solve(pr)
    h = np.diff(sol.x_faces_nm)
    q = _scaled_charge(sol, pr)
    for it, t in enumerate(sol.times_s):
        i = np.searchsorted(sol.front_time_s, t)
        mass = np.sum(h * sol.fractions[it, 1])
        np.testing.assert_allclose(mass, q[i], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sol.front_charge_C_cm2[-1], j * sol.times_s[-1], rtol=1e-5)
    # the total charge (ionic plus the surface charge eps0 eps_r E(0)) is j t itself
    late = sol.front_time_s > 1e-3
    np.testing.assert_allclose(
        sol.front_total_charge_C_cm2[late], j * sol.front_time_s[late], rtol=1e-9
    )


def _front_field_V_cm(sol):
    """E(0, t) at the snapshots: (U - phi(x_1)) / x_1, x_1 the first cell centre (half a cell
    from the front), the field of the front face as the scheme computes it."""
    idx = np.searchsorted(sol.front_time_s, sol.times_s)
    np.testing.assert_array_equal(sol.front_time_s[idx], sol.times_s)
    x1_cm = sol.x_centers_nm[0] / units.NM_PER_CM
    return idx, (sol.front_potential_V[idx] - sol.potential_V[:, 0]) / x1_cm


def test_total_current_is_the_target_under_current_control(build):
    """Two potentiostatic stages (0.5 V, then 1 V) and a galvanostatic one at j: in the
    galvanostatic stage the recorded total current (ionic plus displacement
    eps0 eps_r dE(0)/dt) equals j to 1e-9 relative at every step (plus the round-off of the
    displacement term, 1e-15 eps0 eps_r 8 |U| / (x_1 dt), ~1e-7 of j in its first nanoseconds),
    while the ionic current is still far from j in the dielectric transient; the total charge
    grows by j times the stage's duration; and in every stage the total charge is the ionic
    charge plus eps0 eps_r (E(0, t) - E(0, 0)), the potential jump at the start of stage 2
    included (it enters that stage's first displacement current)."""
    j = units.current_density_A_cm2(20.0, N_BULK)
    pr = build.problem(
        [build.species("Na", 1e-12), build.species("K", 0.5e-12, initial=0.0, back="absorbing")],
        [build.stage(2.0, 1, potential_V=0.5), build.stage(2.0, 1, potential_V=1.0),
         build.stage(2.0, 1, current_A_cm2=j)],
        thickness_nm=2000.0, fine_depth_nm=450.0, spacing_nm=1.0, n_output=3,
    )  # fmt: skip
    sol = npp.solve(pr)
    assert sol.completed, sol.message
    t = sol.front_time_s
    total, ionic = sol.front_total_current_A_cm2, sol.front_current_A_cm2
    assert total.shape == ionic.shape == sol.front_total_charge_C_cm2.shape == t.shape
    galv = t > 4.0
    eps = units.EPS0_F_CM * pr.eps_r
    dt = np.diff(t)[galv[1:]]
    roundoff = 1e-15 * eps * 8.0 * np.abs(sol.front_potential_V[galv]) / (
        sol.x_centers_nm[0] / units.NM_PER_CM * dt
    )  # fmt: skip
    assert np.all(np.abs(total[galv] - j) <= 1e-9 * j + roundoff)
    late = t > 4.001
    np.testing.assert_allclose(total[late], j, rtol=1e-9)
    assert np.max(np.abs(ionic[galv] / j - 1.0)) > 0.5  # the displacement current mattered
    q = sol.front_total_charge_C_cm2
    i4 = np.searchsorted(t, 4.0)
    np.testing.assert_allclose(q[-1] - q[i4], 2.0 * j, rtol=1e-9)
    idx, field = _front_field_V_cm(sol)
    displacement = sol.front_total_charge_C_cm2[idx] - sol.front_charge_C_cm2[idx]
    np.testing.assert_allclose(displacement, eps * (field - field[0]), rtol=1e-8, atol=1e-20)
    i1, i2 = sol.stage_end_index[:2]
    assert displacement[i2] > 1.5 * displacement[i1]  # the jump to 1 V charged the surface


def test_potential_table_is_followed_and_ohmic(build):
    """Tabulated front potential (linear ramp, then a plateau): the front potential equals
    the table at every step, and the quasi-static current is sigma U(t) / L."""
    D, L_nm = 1.0e-12, 1000.0
    table = ("potential", [[0.0, 0.0], [1.0, 0.1], [2.0, 0.1]])
    pr = build.problem(
        [build.species("Li", D)], [build.stage(2.0, 0, table=table)], thickness_nm=L_nm,
        spacing_nm=2.0, n_output=4,
    )  # fmt: skip
    sol = npp.solve(pr)
    assert sol.completed
    t = sol.front_time_s
    u_table = np.interp(t, [0.0, 1.0, 2.0], [0.0, 0.1, 0.1])
    np.testing.assert_allclose(sol.front_potential_V, u_table, rtol=1e-12, atol=1e-15)
    sigma = units.conductivity_S_cm(N_BULK, D, T_K)
    late = t > 0.2
    expected = sigma * u_table[late] / (L_nm / units.NM_PER_CM)
    np.testing.assert_allclose(sol.front_current_A_cm2[late], expected, rtol=1e-4)


def test_current_table_bordered_system(build):
    """Tabulated current (galvanostatic, bordered Newton system): the ionic front current
    follows the table, less the capacitive current, once the surface is charged, and on a
    pristine sample U(t) = j(t) L / sigma."""
    D, L_nm = 1.0e-12, 1000.0
    sigma = units.conductivity_S_cm(N_BULK, D, T_K)
    j0 = sigma * 0.05 / (L_nm / units.NM_PER_CM)
    table = ("current", [[0.0, j0], [1.0, 2 * j0]])
    pr = build.problem(
        [build.species("Li", D)], [build.stage(1.5, 0, table=table)], thickness_nm=L_nm,
        spacing_nm=2.0, n_output=3,
    )  # fmt: skip
    sol = npp.solve(pr)
    assert sol.completed
    j_table = np.interp(sol.front_time_s, [0.0, 1.0], [j0, 2 * j0])
    t = sol.front_time_s
    late = (t > 0.1) & ((t < 1.0) | (t > 1.1))  # away from the start and the kink at 1 s
    # the ramp also charges the geometric capacitance eps0 eps_r / L: ionic = j - C dU/dt
    capacitance = units.EPS0_F_CM * 7.0 / (L_nm / units.NM_PER_CM)
    du_dt = np.where(sol.front_time_s < 1.0, j0 * (L_nm / units.NM_PER_CM) / sigma, 0.0)
    expected = j_table - capacitance * du_dt
    np.testing.assert_allclose(sol.front_current_A_cm2[late], expected[late], rtol=1e-6)
    np.testing.assert_allclose(
        sol.front_potential_V[late], j_table[late] * (L_nm / units.NM_PER_CM) / sigma, rtol=1e-4
    )


def test_blocking_front_conserves_mass(build):
    """Blocking front and blocking back: no species leaves, so every species' amount is
    constant to round-off while the potential redistributes the ions."""
    pr = build.problem(
        [build.species("Li", 1e-12, back="blocking"),
         build.species("Na", 3e-13, initial=0.0, back="blocking")],
        [build.stage(5.0, None, potential_V=0.2)], thickness_nm=50.0, spacing_nm=0.05,
        n_output=5,
    )  # fmt: skip
    sol = npp.solve(pr)
    h = np.diff(sol.x_faces_nm)
    mass = np.einsum("tsk,k->ts", sol.fractions, h)
    np.testing.assert_allclose(mass[:, 0], mass[0, 0], rtol=1e-11)
    assert np.all(sol.fractions >= 0.0)


def test_grid_is_graded_and_covers_sample():
    from solvers.grid import graded_faces_nm

    faces = graded_faces_nm(5e5, 600.0, 0.5, 1.05)
    h = np.diff(faces)
    assert faces[0] == 0.0 and faces[-1] == 5e5
    np.testing.assert_allclose(h[:1200], 0.5)
    assert np.all(h[1:] / h[:-1] <= 1.05 + 1e-12)
    assert np.all(h > 0)
    np.testing.assert_allclose(cell_centers_nm(faces)[0], 0.25)


def test_ctrl_c_stops_cleanly_and_keeps_the_computed_part(build):
    """A KeyboardInterrupt (Ctrl-C) between two calls of the compiled loop ends the run with
    completed False, the snapshots so far, the front record up to the last accepted step, and a
    message naming the time reached; the charge balance still holds for what is kept."""
    pr = build.problem(
        [build.species("Li", 1e-12), build.species("K", 2e-16, initial=0.0)],
        [build.stage(100.0, 1, potential_V=1.0)], thickness_nm=2000.0, spacing_nm=2.0,
        n_output=10,
    )  # fmt: skip
    calls = []

    def progress(t_s, t_end_s):
        calls.append(t_s)
        if len(calls) == 3:
            raise KeyboardInterrupt

    # a few steps per call of the compiled loop (one call would run the whole stage)
    sol = npp.solve(pr, progress=progress, steps_per_call=4)
    assert not sol.completed
    assert sol.diagnostics["interrupted"]
    t_end = sol.times_s[-1]
    assert f"interrupted by the user at t = {t_end:.6g} s" in sol.message
    # every snapshot the interrupted call computed is kept, then the state reached
    np.testing.assert_allclose(sol.times_s[:4], [0.0, 10.0, 20.0, 30.0])
    assert 30.0 <= t_end < 100.0
    assert sol.front_time_s[-1] == t_end
    for rec in (sol.front_total_current_A_cm2, sol.front_total_charge_C_cm2):
        assert rec.shape == sol.front_time_s.shape
    k_amount = np.sum(np.diff(pr.x_faces_nm) * sol.fractions[-1, 1])
    np.testing.assert_allclose(k_amount, _scaled_charge(sol, pr)[-1], rtol=1e-9)


def test_fraction_limits_are_the_site_density():
    """SED species stop at their own N_s / n_bulk = n_ref / (1 - v); others at the glass's."""
    import nppsim
    from nppsim.simulate import problem_from_case
    from solvers.npp import fraction_limits

    problem = problem_from_case(nppsim.case.default_case())
    names = [sp.name for sp in problem.species]
    limits = dict(zip(names, fraction_limits(problem), strict=True))
    assert limits["Li"] == pytest.approx(1.0 / 0.9)
    assert limits["K"] == pytest.approx(1.0 / 0.9)


@pytest.mark.parametrize(
    "first, second_V",
    [
        ("potential_V = 1.5", 10.0),
        ("potential_V = 1.5", -1.0),
        ("current_density_A_cm2 = 2e-6", 10.0),
    ],
)
def test_potential_step_between_stages(first, second_V):
    """A potentiostatic stage whose front potential differs from the one the previous stage
    ended at (a step of several volts) starts from the fixed-charge (Laplace) response and
    runs like the first stage of a run. It used to stop at its first step with the step size
    below round-off (Newton could not absorb a jump of ~300 thermal voltages). The K+
    inventory still equals the charge through the front / e."""
    import nppsim
    from nppsim import units

    text = nppsim.default_case().to_toml()
    text = text.replace(
        "[[stage]]", f'[[stage]]\nduration_s = 20.0\n{first}\nsource = "K"\n\n[[stage]]', 1
    )
    case = nppsim.loads_case(text).with_values(
        {"stage.2.duration_s": 20.0, "stage.2.potential_V": second_V}
    )
    res = nppsim.simulate(case)
    assert res.completed and len(res.stage_end_index) == 2
    assert res.front.potential_V[-1] == pytest.approx(second_V)
    assert abs(res.potential_V[-1]).max() <= abs(second_V) + 1.0
    h_cm = np.diff(res.x_faces_nm) / units.NM_PER_CM
    inventory = np.sum(h_cm * res.final_fraction("K")) * case.sample.n_bulk_cm3
    passed = res.front.charge_C_cm2[-1] / units.E_CHARGE_C
    assert inventory == pytest.approx(passed, rel=2e-6)
    # the same step as a restart: stage 2 alone from stage 1's result (its front potential
    # carried over) gives the two-stage run, and counts the electrode charge from there
    first = nppsim.simulate(case.with_stages([1]))
    second = nppsim.simulate(case.with_stages([2]), initial=first)
    assert second.completed
    np.testing.assert_allclose(second.fractions[-1], res.fractions[-1], atol=1e-7)
    np.testing.assert_allclose(second.potential_V[-1], res.potential_V[-1], atol=1e-6)
    i1 = int(np.searchsorted(res.front.time_s, 20.0))
    gained = res.front.total_charge_C_cm2[-1] - res.front.total_charge_C_cm2[i1]
    assert second.front.total_charge_C_cm2[-1] == pytest.approx(gained, rel=1e-5, abs=1e-15)


def test_sigint_during_the_record_collection_keeps_the_records_consistent(build, monkeypatch):
    """A real SIGINT delivered right after a call of the compiled loop (while its step records
    are being collected) stops the run at the next safe point: interrupted, every front record
    of the same length, times strictly increasing (no chunk lost or collected twice), the
    charge balance intact, and Python's own SIGINT handler back in place afterwards."""
    import signal

    pr = build.problem(
        [build.species("Li", 1e-12), build.species("K", 2e-16, initial=0.0)],
        [build.stage(100.0, 1, potential_V=1.0)], thickness_nm=2000.0, spacing_nm=2.0,
        n_output=10,
    )  # fmt: skip
    real_advance = npp.K.advance
    calls = []

    def advance_then_sigint(*args):
        status = real_advance(*args)
        calls.append(1)
        if len(calls) == 3:
            # solve's own handler is in place: the signal only sets its flag
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
            signal.raise_signal(signal.SIGINT)
        return status

    monkeypatch.setattr(npp.K, "advance", advance_then_sigint)
    sol = npp.solve(pr, steps_per_call=4)
    assert not sol.completed and sol.diagnostics["interrupted"]
    n = sol.front_time_s.size
    for rec in (sol.front_current_A_cm2, sol.front_potential_V, sol.front_charge_C_cm2,
                sol.front_total_current_A_cm2, sol.front_total_charge_C_cm2):  # fmt: skip
        assert rec.shape == (n,)
    assert np.all(np.diff(sol.front_time_s) > 0)
    k_amount = np.sum(np.diff(pr.x_faces_nm) * sol.fractions[-1, 1])
    np.testing.assert_allclose(k_amount, _scaled_charge(sol, pr)[-1], rtol=1e-9)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_two_species_take_the_block_elimination():
    """lbo_k (two species) solves every Newton iteration by the block elimination; without
    the active window all but its first ones (the first microseconds' deep-cell blocks are
    ill-conditioned and go to the banded LU: about 20 iterations, whatever the length of the
    run; the window does not solve those cells); so does a case with three species (the 4 x 4
    blocks of `newton_system_3`), and a case with one species solves every iteration with the
    banded LU."""
    from pathlib import Path

    import nppsim
    from nppsim.simulate import problem_from_case

    cases = Path(__file__).resolve().parents[2] / "cases"
    problem = problem_from_case(
        nppsim.load_case(cases / "lbo_k.toml").with_values({"stage.1.duration_s": 100.0})
    )
    assert npp.solve(problem).diagnostics["banded_iterations"] == 0
    diag = npp.solve(problem, active_window=False).diagnostics
    assert 0 < diag["banded_iterations"] <= 25
    assert diag["banded_iterations"] <= 0.2 * diag["newton_iterations"]
    problem3 = problem_from_case(
        nppsim.load_case(cases / "lbo_cs_at_rb.toml").with_values(
            {"stage.1.duration_s": 10.0, "stage.2.duration_s": 10.0}
        )
    )
    assert npp.solve(problem3).diagnostics["banded_iterations"] == 0
    diag3 = npp.solve(problem3, active_window=False).diagnostics
    assert 0 < diag3["banded_iterations"] <= 2 * 25  # two stages
    sol1 = npp.solve(
        problem_from_case(
            nppsim.load_case(cases / "poling_borosilicate.toml").with_values(
                {"stage.1.duration_s": 1.0}
            )
        )
    )
    assert sol1.diagnostics["banded_iterations"] == sol1.diagnostics["newton_iterations"]
