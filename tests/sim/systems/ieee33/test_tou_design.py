"""DA TOU price design (sim/systems/ieee33/tou_design.py, SPEC §5.3) on the bundled IEEE-33 scenario.

Most tests use the scenario with the paper's fixed substation voltage and soft limits (``fixed_v0``): there the
evening undervoltage is priced, so the DSO has work for its tariff (a peak/valley spread that moves DR load);
with the bundled tap changer (line-drop compensation) and hard limits the network is within limits and the
cost-optimal tariff is flat — tested separately (``test_default_network_*``).

The fixed-set-point day (default fleet, 20 EVs per station) is solved once; its plan is checked against
independent formulations: the TA agents' numpy response (EL-2…EL-5), the numpy LinDistFlow sweep,
TOU-1/TOU-2 recomputed from the scenario data, and the energy balance.  Two reduced variants are
checked by hand / by brute force: without DR, storage, EVs and network limits the plan is the
closed-form ``P^sub = (L - G)^+``; with DR (no storage, no EVs, no branch limits) the MILP's price
levels beat every admissible grid point of TOU-1/TOU-2 evaluated in numpy.
"""

from __future__ import annotations

from dataclasses import replace

import mesa
import numpy as np
import pytest

from agents.milp import SolveError, SolverOptions
from agents.transformer_area import TransformerAreaAgent
from scenarios.ieee33_loader import fleet, load_ieee33_scenario
from scenarios.schema import IEEE33Scenario
from sim.network.lindistflow import lindistflow_voltages
from sim.systems.ieee33.tou_design import COST_KEYS, TouDesign, design_tou

TOL = 1e-6
TIGHT = SolverOptions(mip_rel_gap=1e-9)


def fixed_v0(sc: IEEE33Scenario) -> IEEE33Scenario:
    """The paper's fixed substation voltage (no line-drop compensation) with soft voltage limits."""
    return replace(sc, network=replace(sc.network, oltc_ldc_pu_per_mw=0.0, voltage_limits="soft"))


@pytest.fixture(scope="module")
def scenario() -> IEEE33Scenario:
    return fixed_v0(load_ieee33_scenario())


@pytest.fixture(scope="module")
def design(scenario: IEEE33Scenario) -> TouDesign:
    return design_tou(scenario, fleet(scenario))


def dr_tas(scenario: IEEE33Scenario) -> list[int]:
    return [ta.bus for ta in scenario.transformer_areas if ta.shiftable_kw.any() or ta.curtailable_kw.any()]


def without_storage(scenario: IEEE33Scenario) -> IEEE33Scenario:
    clusters = tuple(replace(c, ess=replace(c.ess, capacity_kwh=0.0, p_charge_max_kw=0.0, p_discharge_max_kw=0.0))
                     for c in scenario.clusters)
    net = replace(scenario.network, s_max_trunk_mva=1e3, s_max_other_mva=1e3)
    return replace(scenario, clusters=clusters, network=net)


# ------------------------------------------------------------------------------------ the default day


def test_solve_is_optimal_and_certified(design: TouDesign, scenario: IEEE33Scenario) -> None:
    assert all(s.status == "optimal" for s in design.stats)
    assert design.stats[-1].mip_gap <= SolverOptions().mip_rel_gap
    # the cut binaries are integer from the first solve; storage/EV exclusivity is certified on the optimum
    n_cut = design.model_size["integer_binaries"]
    assert n_cut > 0
    assert design.path in (f"milp-certified({n_cut} integer columns)",) or design.path.startswith("lp+milp(")
    size = design.model_size
    assert set(size) == {"rows", "cols", "nonzeros", "binaries", "integer_binaries"}
    assert size["rows"] > 24 * 32 * 8 and size["cols"] > 24 * 33  # octagon rows; voltages
    # the DA model holds aggregates, not vehicles: fewer than the fleet at every station
    assert design.ev_count == {st.bus: 20 for st in scenario.ev_stations}
    assert all(0 < design.ev_aggregates[b] < design.ev_count[b] for b in design.ev_count)
    assert design.build_seconds > 0 and design.solve_seconds > 0


def test_costs_add_up_to_the_objective(design: TouDesign, scenario: IEEE33Scenario) -> None:
    c = design.costs
    assert set(c) == {*COST_KEYS, "total"}
    assert c["total"] == pytest.approx(sum(c[k] for k in COST_KEYS), rel=1e-12)
    assert c["total"] == pytest.approx(design.objective, rel=TOL)
    t = scenario.tariff
    # recomputed from the plan's arrays
    assert c["buy"] == pytest.approx(float(design.upstream_prices @ design.p_sub_kw), rel=TOL)
    assert c["pv"] == pytest.approx(t.lambda_pv * design.curtailment_kwh, rel=TOL)  # lambda_pv == lambda_wt here
    assert c["om"] == pytest.approx(t.lambda_om * float((design.total_ess_charge_kw
                                                         + design.total_ess_discharge_kw).sum()), rel=TOL)
    assert c["tp"] == 0.0  # lambda_tp = 0 by default
    assert c["voltage"] == pytest.approx(scenario.network.voltage_penalty_per_pu_h
                                         * design.voltage_violation.slack_pu_h, rel=TOL)
    assert c["dr"] > 0 and c["ev"] > 0 and c["voltage"] > 0


def test_tou1_and_tou2_hold(design: TouDesign, scenario: IEEE33Scenario) -> None:
    t = scenario.tariff
    lv = design.levels
    assert set(lv) == {"valley", "flat", "peak"}
    assert t.price_min - TOL <= lv["valley"] <= lv["flat"] + TOL
    assert lv["flat"] <= lv["peak"] + TOL <= t.price_max + 2 * TOL
    np.testing.assert_allclose(design.prices, [lv[p] for p in t.partition], atol=0)
    # TOU-2 on the baseline, recomputed from the scenario's bus loads (an independent path)
    base = scenario.bus_load_kw.sum(axis=1)
    np.testing.assert_allclose(design.baseline_load_kw, base, atol=1e-9)
    assert float(design.prices @ base) == pytest.approx(t.reference_price * base.sum(), rel=1e-9)
    # the DSO uses the tariff: a spread, not the flat reference price
    assert lv["peak"] > t.reference_price + 0.01 > lv["valley"] + 0.02


def test_ta_loads_equal_the_agents_response_at_the_chosen_prices(design: TouDesign, scenario: IEEE33Scenario) -> None:
    model = mesa.Model()
    buses = dr_tas(scenario)
    assert buses == [1, 16, 23]
    for ta in scenario.transformer_areas:
        resp = TransformerAreaAgent(model, ta).day_ahead_response(design.prices)
        np.testing.assert_allclose(design.ta_load_kw[ta.bus], resp.load_kw, atol=TOL, rtol=0, err_msg=ta.name)
    np.testing.assert_allclose(design.load_after_dr_kw, sum(design.ta_load_kw.values()), atol=1e-9)
    # DR energy is conserved up to the curtailment: the cut load is the only energy that disappears
    assert design.load_after_dr_kw.sum() <= design.baseline_load_kw.sum() + TOL


def test_dr_moves_load_out_of_peak_hours(design: TouDesign, scenario: IEEE33Scenario) -> None:
    peak = np.array(scenario.tariff.partition) == "peak"
    for bus in dr_tas(scenario):
        before = scenario.transformer_area(bus).base_load_kw
        after = design.ta_load_kw[bus]
        assert np.all(after[peak] <= before[peak] + TOL), bus
        assert after[peak].sum() < before[peak].sum() - 10.0, bus  # kWh moved out of the peak at every DR bus
    assert design.load_after_dr_kw[peak].sum() < design.baseline_load_kw[peak].sum() - 300.0


def test_voltages_equal_numpy_lindistflow_and_the_balance_holds(design: TouDesign, scenario: IEEE33Scenario) -> None:
    v = lindistflow_voltages(scenario.feeder, design.p_load_kw, design.q_load_kvar, design.p_gen_kw,
                             v0_pu=scenario.network.v0_pu)
    np.testing.assert_allclose(design.v_pu, v, atol=TOL, rtol=0)
    np.testing.assert_allclose(design.p_sub_kw, design.p_load_kw.sum(axis=1) - design.p_gen_kw.sum(axis=1), atol=TOL)
    assert np.all(design.p_sub_kw >= -TOL)  # no reverse flow (SPEC §5.2 default)
    # per-bus loads: TA loads + EV net at the stations + storage net charging at the leading buses
    pos = scenario.feeder.bus_position
    rebuilt = np.zeros_like(design.p_load_kw)
    for bus, load in design.ta_load_kw.items():
        rebuilt[:, pos[bus]] += load
    for bus, net in design.ev_net_kw.items():
        rebuilt[:, pos[bus]] += net
    for cl in scenario.clusters:
        rebuilt[:, pos[cl.leading_bus]] += design.ess_charge_kw[cl.name] - design.ess_discharge_kw[cl.name]
    np.testing.assert_allclose(design.p_load_kw, rebuilt, atol=1e-9)
    np.testing.assert_allclose(design.p_gen_kw.sum(axis=1), design.pv_kw + design.wind_kw, atol=1e-9)
    # the evening undervoltage of scenario.toml: soft limits report it at bus 18
    vr = design.voltage_violation
    assert vr.v_min_pu == pytest.approx(v.min(), abs=1e-12) and vr.v_min_bus == 18 and 18 <= vr.v_min_hour <= 22
    assert vr.worst_side == "under" and vr.worst_bus == 18
    assert vr.worst_pu == pytest.approx(scenario.network.v_min_pu - vr.v_min_pu, abs=1e-12)
    assert vr.total_pu_h >= vr.slack_pu_h > 0  # the first-order slack understates an undervoltage


def test_storage_and_evs_are_physical(design: TouDesign, scenario: IEEE33Scenario) -> None:
    for name in design.ess_charge_kw:
        assert np.max(np.minimum(design.ess_charge_kw[name], design.ess_discharge_kw[name])) <= TOL
        ess = scenario.cluster(name).ess
        soc = design.ess_soc_kwh[name]
        e = ess.capacity_kwh
        assert ess.soc_min_frac * e - TOL <= soc.min() <= soc.max() <= ess.soc_max_frac * e + TOL
        assert soc[-1] == pytest.approx(ess.soc_initial_frac * ess.capacity_kwh, abs=TOL)  # ESS-4
    for bus, net in design.ev_net_kw.items():
        cap = 7.0 * design.ev_count[bus]
        assert np.all(np.abs(net) <= cap + TOL)
    assert design.total_ev_net_kw.sum() > 0  # the fleet charges for its trips over the day


def test_frame_has_one_row_per_hour(design: TouDesign, scenario: IEEE33Scenario) -> None:
    df = design.to_frame()
    assert list(df.columns) == ["hour", "period", "price", "upstream_price", "baseline_load_kw", "load_after_dr_kw",
                                "pv_available_kw", "pv_kw", "wind_available_kw", "wind_kw", "ess_charge_kw",
                                "ess_discharge_kw", "ev_net_kw", "p_sub_kw", "vmin_pu", "vmax_pu"]
    assert df.hour.tolist() == list(range(1, 25)) and tuple(df.period) == scenario.tariff.partition
    np.testing.assert_allclose(df.pv_available_kw + df.wind_available_kw, scenario.bus_available_gen_kw.sum(axis=1))
    assert np.all(df.pv_kw <= df.pv_available_kw + TOL) and np.all(df.wind_kw <= df.wind_available_kw + TOL)
    np.testing.assert_allclose(df.vmin_pu, design.v_pu.min(axis=1))


# ------------------------------------------------------------------------------------ variants


def test_hard_voltage_limits_make_the_fixed_set_point_day_infeasible(scenario: IEEE33Scenario) -> None:
    hard = replace(scenario, network=replace(scenario.network, voltage_limits="hard"))
    with pytest.raises(SolveError, match="res_v_min") as info:
        design_tou(hard, None)
    assert info.value.status == "infeasible"
    assert info.value.diagnosis[0][0] == "net.res_v_min"


def test_default_network_meets_hard_limits_with_the_tap_changer() -> None:
    """Bundled scenario: hard limits and line-drop compensation V_0,t = V_0 + k P^sub_t (scenario.toml).

    The DA plan is feasible, every LinDistFlow voltage lies in [v_min, v_max], the root voltage is the LDC
    line squared to first order, and the numpy LinDistFlow at the clipped tap-changer voltage of the check
    (NetworkSpec.substation_voltage) reproduces the plan's voltages up to that first-order term.
    """
    sc = load_ieee33_scenario()
    net = sc.network
    assert net.hard_voltage_limits and net.oltc_ldc_pu_per_mw > 0
    d = design_tou(sc, None)
    assert d.costs["voltage"] == 0.0
    assert net.v_min_pu - TOL <= d.v_pu.min() and d.v_pu.max() <= net.v_max_pu + TOL
    root = sc.feeder.bus_position[sc.feeder.root]
    k, v0 = net.oltc_ldc_pu_per_mw, net.v0_pu
    np.testing.assert_allclose(d.v_pu[:, root] ** 2, v0**2 + 2 * v0 * k * d.p_sub_kw / 1000.0, atol=1e-9)
    assert d.v_pu[:, root].max() > v0 + 0.03  # the evening peak raises the substation voltage
    v0_t = net.substation_voltage(d.p_sub_kw)
    np.testing.assert_allclose(v0_t, v0 + k * d.p_sub_kw / 1000.0)  # the tap range does not bind on this day
    v = lindistflow_voltages(sc.feeder, d.p_load_kw, d.q_load_kvar, d.p_gen_kw, v0_pu=v0_t)
    # first-order root: (V0 + kP)^2 vs V0^2 + 2 V0 kP differ by (kP)^2 in v = V^2, i.e. (kP)^2 / (2V) in V
    err = np.abs(v - d.v_pu)
    assert err.max() <= (k * d.p_sub_kw.max() / 1000.0) ** 2 / (2 * net.v_min_pu) + 1e-6
    assert np.all(v >= d.v_pu - 1e-9)  # the DA model is conservative for the lower limit


def test_without_dr_storage_evs_and_limits_the_plan_is_closed_form(scenario: IEEE33Scenario) -> None:
    # No response, no storage, no EVs, no binding network: P^sub = (L - G)^+ and the surplus is curtailed.
    zero = np.zeros(24)
    tas = tuple(replace(ta, fixed_kw=ta.base_load_kw, shiftable_kw=zero, curtailable_kw=zero)
                for ta in scenario.transformer_areas)
    sc = without_storage(replace(scenario, transformer_areas=tas))
    sc = replace(sc, network=replace(sc.network, v_min_pu=0.5, v_max_pu=1.5))
    pv7 = next(s for s in scenario.renewables if s.name == "pv7")
    half = 0.5 * pv7.forecast_kw
    d = design_tou(sc, None, forecast_kw={"pv7": half})
    np.testing.assert_allclose(d.site_available_kw["pv7"], half)
    load = scenario.bus_load_kw.sum(axis=1)
    gen = scenario.bus_available_gen_kw.sum(axis=1) - half
    np.testing.assert_allclose(d.p_sub_kw, np.maximum(load - gen, 0), atol=TOL)
    surplus = np.maximum(gen - load, 0)
    assert surplus.sum() > 100.0  # the midday PV surplus exists
    assert d.curtailment_kwh == pytest.approx(surplus.sum(), abs=TOL)
    up = np.array([{"valley": 0.07, "flat": 0.11, "peak": 0.16}[p] for p in scenario.tariff.partition])
    assert d.costs["buy"] == pytest.approx(float(up @ np.maximum(load - gen, 0)), abs=TOL)
    assert d.costs["pv"] == pytest.approx(0.10 * surplus.sum(), abs=TOL)
    assert all(d.costs[k] == pytest.approx(0.0, abs=1e-9) for k in ("tp", "om", "dr", "ev", "voltage"))
    assert d.path == "lp-certified"  # no binary anywhere
    np.testing.assert_allclose(d.load_after_dr_kw, load, atol=1e-9)


def test_price_levels_beat_every_admissible_grid_point(scenario: IEEE33Scenario) -> None:
    # DR on, soft voltage limits on; no storage, no EVs, no branch limits.  Then the only dispatch left is
    # curtailment of a surplus, and the DSO cost of a price vector is closed-form in numpy:
    #   sum_t p_t (L_t - G_t)^+ + lambda (G_t - L_t)^+ + C_dr + c_volt * sum first-order slacks (deficit hours)
    sc = without_storage(scenario)
    d = design_tou(sc, None, options=TIGHT)
    t, net, feeder = sc.tariff, sc.network, sc.feeder
    pos = feeder.bus_position
    model = mesa.Model()
    agents = [(ta, TransformerAreaAgent(model, ta)) for ta in sc.transformer_areas]
    gen = sc.bus_available_gen_kw
    nonroot = np.array(feeder.buses) != feeder.root

    def cost(levels: dict[str, float]) -> float:
        prices = np.array([levels[p] for p in t.partition])
        load = np.zeros((24, feeder.n_buses))
        q = np.zeros_like(load)
        dr = 0.0
        for ta, agent in agents:
            r = agent.day_ahead_response(prices)
            load[:, pos[ta.bus]] += r.load_kw
            q[:, pos[ta.bus]] += r.q_kvar
            dr += r.dr_cost
        net_t = load.sum(axis=1) - gen.sum(axis=1)
        v2 = lindistflow_voltages(feeder, load, q, gen, v0_pu=net.v0_pu)[:, nonroot] ** 2
        slack = (np.maximum(net.v_min_pu**2 - v2, 0) / (2 * net.v_min_pu)
                 + np.maximum(v2 - net.v_max_pu**2, 0) / (2 * net.v_max_pu))
        deficit = net_t >= 0
        return float(t.upstream_price_hourly @ np.maximum(net_t, 0) + t.lambda_pv * np.maximum(-net_t, 0).sum()
                     + dr + net.voltage_penalty_per_pu_h * slack[deficit].sum())

    # in surplus hours the curtailed plan has no voltage violation (what cost() assumes there)
    surplus = sc.bus_load_kw.sum(axis=1) < gen.sum(axis=1)
    lo, hi = net.v_min_pu, net.v_max_pu
    assert surplus.any() and np.all((d.v_pu[surplus] >= lo) & (d.v_pu[surplus] <= hi))
    assert cost(d.levels) == pytest.approx(d.costs["total"], rel=1e-7)
    part = np.array(t.partition)
    base = sc.bus_load_kw.sum(axis=1)
    w = {p: base[part == p].sum() for p in ("valley", "flat", "peak")}
    grid = np.linspace(t.price_min, t.price_max, 45)
    best = np.inf
    n = 0
    for pv in grid:
        for pf in grid[grid >= pv]:
            pp = (t.reference_price * base.sum() - pv * w["valley"] - pf * w["flat"]) / w["peak"]  # TOU-2
            if pf <= pp <= t.price_max:
                best = min(best, cost({"valley": pv, "flat": pf, "peak": pp}))
                n += 1
    assert n > 100
    # 1e-7 relative: HiGHS meets a voltage row within 1e-7 p.u.^2, priced at 1000 USD/(p.u. h)
    assert d.costs["total"] <= best * (1 + 1e-7)
    flat = cost({p: t.reference_price for p in ("valley", "flat", "peak")})
    assert d.costs["total"] < flat - 10.0  # the TOU design is worth something here


def test_expensive_curtailment_needs_the_milp_fallback(scenario: IEEE33Scenario) -> None:
    # With lambda_pv = lambda_wt = 1 USD/kWh the LP burns surplus through the storage's round-trip losses
    # (charging and discharging at once); those periods get their binaries and the plan is exclusive.
    sc = replace(scenario, tariff=replace(scenario.tariff, lambda_pv=1.0, lambda_wt=1.0))
    d = design_tou(sc, None)
    assert d.path.startswith("lp+milp(")
    assert len(d.stats) >= 2 and all(s.status == "optimal" for s in d.stats)
    assert d.stats[0].objective <= d.stats[-1].objective + TOL  # the first solve is a relaxation
    for name in d.ess_charge_kw:
        assert np.max(np.minimum(d.ess_charge_kw[name], d.ess_discharge_kw[name])) <= TOL
    assert d.costs["total"] == pytest.approx(d.objective, rel=TOL)
    np.testing.assert_allclose(d.p_sub_kw, d.p_load_kw.sum(axis=1) - d.p_gen_kw.sum(axis=1), atol=TOL)


def test_without_revenue_neutrality_the_cost_cannot_rise(design: TouDesign, scenario: IEEE33Scenario) -> None:
    sc = replace(scenario, tariff=replace(scenario.tariff, revenue_neutral=False))
    d = design_tou(sc, fleet(scenario))
    assert d.costs["total"] <= design.costs["total"] * (1 + 2 * SolverOptions().mip_rel_gap)
    assert d.levels["peak"] == pytest.approx(sc.tariff.price_max, abs=TOL)  # nothing holds the peak price back
    assert sc.tariff.price_min - TOL <= d.levels["valley"] <= d.levels["flat"] + TOL


def test_bad_inputs_are_named(scenario: IEEE33Scenario) -> None:
    with pytest.raises(ValueError, match=r"unknown sites \['pv8'\]"):
        design_tou(scenario, None, forecast_kw={"pv8": np.zeros(24)})
    with pytest.raises(ValueError, match=r"forecast_kw\['wt12'\] must lie in \[0, 600\]"):
        design_tou(scenario, None, forecast_kw={"wt12": np.full(24, 700.0)})
    with pytest.raises(ValueError, match="24 finite values"):
        design_tou(scenario, None, forecast_kw={"wt12": np.zeros(23)})
    with pytest.raises(ValueError, match="station bus 99"):
        design_tou(scenario, {99: fleet(scenario)[13]})
