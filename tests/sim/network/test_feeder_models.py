"""Transformer ratios and shunts in the network models (sim/network/acflow.py, sim/network/lindistflow.py; issue 17).

The reference is pandapower's ``runpp`` (defaults, ``numba=False``) on the ORIGINAL SimBench net: the year of
absolute profiles is read first (``simbench.get_absolute_values``), then profile step ``t`` is written into
``net.load`` / ``net.sgen`` and solved.  The feeder is the one coopgrid builds from the same net
(:func:`scenarios.network_source.load_network` for LV-rural1; the same two steps, ``radial_network`` then
``feeder_from_radial``, on the one net read for MV-rural), and pandapower buses are mapped onto feeder buses with
``NetworkData.bus_of``.

Golden values (simbench 1.6.3, pandapower 3.5.6, profile step 0): 1-MV-rural--0-sw V_min 1.02201 p.u., losses
191.97 kW; 1-LV-rural1--0-sw V_min 1.01956 p.u., losses 0.54 kW (losses = ``res_line.pl_mw + res_trafo.pl_mw``).

Measured (this file's steps): coopgrid's AC vs pandapower max |ΔV| 2.3e-5 p.u. on LV-rural1, 8.0e-4 on MV-rural;
the MV gap is the charging of the six open-ended tie lines (93-98), which pandapower keeps energised from their
closed end and the radial model drops (with it added the gap is 2.8e-5).  LinDistFlow vs AC: 2.4e-4 on LV,
9.2e-4 on MV with the shunts, 6.4e-3 on MV without them.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, NamedTuple

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.repn import generate_standard_repn

from agents.devices.core import Horizon
from agents.milp import HighsModel
from scenarios.feeder import Branch, Feeder, _pandapower, load_ieee33
from scenarios.network_source import feeder_from_radial, load_network
from scenarios.radial_network import RadialNetwork, radial_network
from sim.network.acflow import _network
from sim.network.lindistflow import (
    ac_power_flow_series,
    ac_power_flow_series_pandapower,
    build_lindistflow,
    lindistflow,
    network_solution,
    shunt_demand,
)

LV = "1-LV-rural1--0-sw"
MV = "1-MV-rural--0-sw"


class Grid(NamedTuple):
    """A SimBench grid: its pristine pandapower net, profiles (kW / kvar, steps x elements), feeder and bus map."""

    code: str
    net: Any
    load_p_kw: np.ndarray
    load_q_kvar: np.ndarray
    gen_kw: np.ndarray
    feeder: Feeder
    bus_of: dict[int, int]
    v0_pu: float
    steps: tuple[int, ...]


def _feeder(net: Any, code: str) -> tuple[Feeder, dict[int, int], float]:
    """What :func:`load_network` builds (radial_network, then feeder_from_radial; no base loads: every test
    writes profile steps), from a net already read, and the pandapower bus -> feeder bus map."""
    rn = radial_network(net, code)
    number = {node: k + 1 for k, node in enumerate(rn.nodes)}
    n = len(rn.nodes)
    return feeder_from_radial(rn, code, np.zeros(n), np.zeros(n)), {b: number[v] for b, v in rn.node_of.items()}, \
        rn.v0_pu


def _grid(code: str, through_load_network: bool) -> Grid:
    """The grid; its feeder from :func:`load_network` (the pipeline; reads the CSVs a second time, ~3 s) or from the
    one net read here."""
    import simbench as sb

    _pandapower()
    net = sb.get_simbench_net(code)
    absolute = sb.get_absolute_values(net, True)  # before anything is written into the net
    lp = absolute[("load", "p_mw")].to_numpy(dtype=float) * 1000.0
    lq = absolute[("load", "q_mvar")].to_numpy(dtype=float) * 1000.0
    gp = absolute[("sgen", "p_mw")].to_numpy(dtype=float) * 1000.0
    if through_load_network:
        nd = load_network(f"simbench:{code}")
        assert nd.year is not None
        np.testing.assert_array_equal(nd.year.load_p_kw, lp)  # coopgrid's profiles are simbench's, column by column
        feeder, bus_of, v0 = nd.feeder, nd.bus_of, nd.v0_pu
        mine, _, _ = _feeder(net, code)
        for what in ("shunt_g_pu", "shunt_b_pu"):
            np.testing.assert_array_equal(getattr(feeder, what), getattr(mine, what))
        assert feeder.branches == mine.branches
    else:
        feeder, bus_of, v0 = _feeder(net, code)
    export = gp.sum(axis=1) - lp.sum(axis=1)
    steps = (0, int(np.argmax(export)), int(np.argmin(export)), 5000, 17000, 30000)
    return Grid(code, net, lp, lq, gp, feeder, bus_of, v0, steps)


@pytest.fixture(scope="module")
def lv() -> Grid:
    return _grid(LV, through_load_network=True)


@pytest.fixture(scope="module")
def mv() -> Grid:
    return _grid(MV, through_load_network=False)


def _injections(g: Grid, feeder: Feeder, bus_of: dict[int, int], steps: tuple[int, ...]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loads and generation of profile ``steps`` summed onto the feeder's buses, ``(len(steps), n_buses)`` kW/kvar."""
    ml = np.zeros((len(g.net.load), feeder.n_buses))
    for c, b in enumerate(g.net.load.bus):
        ml[c, feeder.bus_position[bus_of[int(b)]]] = 1.0
    mg = np.zeros((len(g.net.sgen), feeder.n_buses))
    for c, b in enumerate(g.net.sgen.bus):
        mg[c, feeder.bus_position[bus_of[int(b)]]] = 1.0
    s = list(steps)
    return g.load_p_kw[s] @ ml, g.load_q_kvar[s] @ ml, g.gen_kw[s] @ mg


class PandapowerRun(NamedTuple):
    buses: list[int]  # in-service pandapower buses
    v_pu: np.ndarray  # (steps, buses)
    losses_kw: np.ndarray  # res_line.pl_mw + res_trafo.pl_mw


def _runpp(g: Grid, steps: tuple[int, ...], net: Any = None) -> PandapowerRun:
    pp = _pandapower()
    net = copy.deepcopy(g.net if net is None else net)
    buses = [int(b) for b in net.bus.index[net.bus.in_service]]
    v = np.zeros((len(steps), len(buses)))
    losses = np.zeros(len(steps))
    for k, t in enumerate(steps):
        net.load["p_mw"] = g.load_p_kw[t] / 1000.0
        net.load["q_mvar"] = g.load_q_kvar[t] / 1000.0
        net.sgen["p_mw"] = g.gen_kw[t] / 1000.0
        pp.runpp(net, numba=False)
        v[k] = net.res_bus.vm_pu.loc[buses].to_numpy()
        losses[k] = 1000.0 * float(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum())
    return PandapowerRun(buses, v, losses)


def _at_pp_buses(v_feeder: np.ndarray, feeder: Feeder, bus_of: dict[int, int], buses: list[int]) -> np.ndarray:
    return v_feeder[:, [feeder.bus_position[bus_of[b]] for b in buses]]


def _no_shunts(feeder: Feeder) -> Feeder:
    return dataclasses.replace(feeder, shunt_g_pu=None, shunt_b_pu=None)


# ---------------------------------------------------------------------------- IEEE-33 unchanged


def test_ieee33_models_are_the_series_only_models() -> None:
    """Ratio 1 and no shunts: the Y-bus is exactly A^T diag(1/z) A with a ±1 incidence, the numpy LinDistFlow
    exactly V0² - D^T drop, and the Pyomo block has no transformer or shunt terms (bit for bit: x/1 and x+0)."""
    f = load_ieee33()
    assert not f.has_shunts and np.all(f.ratios() == 1.0)
    r, x = f.r_x_ohm()
    y = 1.0 / ((r + 1j * x) / f.z_base_ohm)
    a = np.zeros((f.n_branches, f.n_buses))
    for k, br in enumerate(f.branches):
        a[k, f.bus_position[br.from_bus]], a[k, f.bus_position[br.to_bus]] = 1.0, -1.0
    net = _network(f)
    assert np.array_equal(net.y_bus, a.T @ (y[:, None] * a)) and np.array_equal(net.incidence, a)
    rng = np.random.default_rng(17)
    pl = rng.uniform(0.0, 1.5, (5, f.n_buses)) * f.p_load_kw
    ql = pl * f.q_to_p_ratio
    res = lindistflow(f, pl, ql, v0_pu=1.02)
    drop = 2.0 * (r * (pl @ f.subtree.T) + x * (ql @ f.subtree.T)) / (1000.0 * f.v_base_kv**2)
    assert np.array_equal(res.v_sq_pu2, 1.02**2 - drop @ f.subtree)
    assert np.array_equal(res.p_sub_kw, pl.sum(axis=1))
    m = pyo.ConcreteModel()
    m.net = pyo.Block()
    build_lindistflow(m.net, f, Horizon(2, 1.0))
    assert len(m.net.TAPPED) == 0 and len(m.net.SHUNTS) == 0
    z_scale = 1000.0 * f.v_base_kv**2 / 2.0
    for con in m.net.def_voltage_drop.values():
        repn = generate_standard_repn(con.body)
        coefs = [c for v, c in zip(repn.linear_vars, repn.linear_coefs, strict=True)
                 if v.parent_component() is m.net.v_sq_pu2]
        assert sorted(coefs) == [-z_scale, z_scale]


# ---------------------------------------------------------------------------- AC vs pandapower


def test_lv_ac_matches_pandapower_and_golden_values(lv: Grid) -> None:
    f = lv.feeder
    assert f.v_base_kv == 0.4 and f.n_buses == 15 and f.has_shunts
    ref = _runpp(lv, lv.steps)
    # pandapower reproduces the research's golden values at step 0
    assert ref.v_pu[0].min() == pytest.approx(1.01956, abs=1e-5)
    assert ref.losses_kw[0] == pytest.approx(0.54, abs=0.05)
    p, q, gen = _injections(lv, f, lv.bus_of, lv.steps)
    ac = ac_power_flow_series(f, p, q, gen, v0_pu=lv.v0_pu)
    dv = np.abs(_at_pp_buses(ac.v_pu, f, lv.bus_of, ref.buses) - ref.v_pu)
    assert dv.max() <= 5e-5  # measured 2.3e-5
    np.testing.assert_allclose(ac.losses_kw, ref.losses_kw, rtol=0.01)  # measured <= 0.21 %
    assert ac.v_pu[0].min() == pytest.approx(1.01956, abs=5e-5)
    # the max-export step raises the voltage to the slack's at least (reverse flow through the trafo)
    assert ac.p_sub_kw[1] < 0 < ac.p_sub_kw[0]


def test_mv_ac_and_lindistflow_match_pandapower(mv: Grid) -> None:
    """MV with 110/20 kV trafos, line charging and iron losses; LinDistFlow needs the shunts to be this close."""
    f = mv.feeder
    assert f.v_base_kv == 20.0 and f.n_buses == 95
    # line charging, p.u.: 1.64 of the radial lines plus 0.21 of the tie lines open at one end (energised)
    assert float(np.asarray(f.shunt_b_pu).sum()) == pytest.approx(1.846, abs=0.01)
    assert float(np.asarray(f.shunt_g_pu).sum()) > 0  # iron losses
    ref = _runpp(mv, mv.steps)
    assert ref.v_pu[0].min() == pytest.approx(1.02201, abs=1e-5)
    assert ref.losses_kw[0] == pytest.approx(191.97, abs=0.05)
    p, q, gen = _injections(mv, f, mv.bus_of, mv.steps)
    ac = ac_power_flow_series(f, p, q, gen, v0_pu=mv.v0_pu)
    dv = np.abs(_at_pp_buses(ac.v_pu, f, mv.bus_of, ref.buses) - ref.v_pu)
    # measured 2.8e-5 (8.0e-4 before the open-ended tie lines' charging was kept at their energised end)
    assert dv.max() <= 1e-4
    np.testing.assert_allclose(ac.losses_kw, ref.losses_kw, rtol=0.01)  # measured <= 0.75 %
    assert ac.v_pu[0].min() == pytest.approx(1.02201, abs=1e-4)
    # LinDistFlow vs AC on the same feeder, and what dropping the shunts costs
    err = np.abs(lindistflow(f, p, q, gen, v0_pu=mv.v0_pu).v_pu - ac.v_pu).max()
    err_bare = np.abs(lindistflow(_no_shunts(f), p, q, gen, v0_pu=mv.v0_pu).v_pu - ac.v_pu).max()
    assert err <= 0.0025 and err_bare >= 0.005  # measured 9.2e-4 and 6.4e-3
    assert err_bare > 4 * err


def test_lv_lindistflow_vs_ac(lv: Grid) -> None:
    f = lv.feeder
    p, q, gen = _injections(lv, f, lv.bus_of, lv.steps)
    ac = ac_power_flow_series(f, p, q, gen, v0_pu=lv.v0_pu)
    ldf = lindistflow(f, p, q, gen, v0_pu=lv.v0_pu)
    assert np.abs(ldf.v_pu - ac.v_pu).max() <= 0.001  # measured 2.4e-4 (max import step)
    # the shunts are constant demands at |V| = 1: the substation supplies them on top of the loads
    p_sh, q_sh = shunt_demand(f)
    np.testing.assert_allclose(ldf.p_sub_kw, (p - gen).sum(axis=1) + p_sh.sum(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ldf.q_sub_kvar, q.sum(axis=1) + q_sh.sum(), rtol=0, atol=1e-9)
    assert p_sh.sum() == pytest.approx(1000.0 * f.s_base_mva * np.asarray(f.shunt_g_pu).sum()) and p_sh.sum() > 0


# ---------------------------------------------------------------------------- a ratio != 1


def _magnetising_behind_the_ratio(rn: RadialNetwork, net: Any) -> RadialNetwork:
    """pandapower keeps a trafo's magnetising admittance on the lv side of its ideal transformer, so seen from
    the hv bus it is ``y_m / n²``; ``radial_network`` (simbench 1.6.3 era) puts ``y_m`` itself there, which is
    the same at the rated ratio but overstates the iron losses by ``n²`` at a tap (9 % of LV-rural1's losses at
    n = 1.05).  Refer it here while the branch still carries the unreferred value (the raw ``pfe_kw``)."""
    out = []
    for br in rn.branches:
        trafos = [i for kind, i in br.elements if kind == "trafo"]
        raw = sum(float(net.trafo.at[i, "pfe_kw"]) for i in trafos) / 1000.0 / rn.s_base_mva
        if trafos and br.ratio != 1.0 and br.g_mag_pu == pytest.approx(raw, rel=1e-12):
            br = dataclasses.replace(br, g_mag_pu=br.g_mag_pu / br.ratio**2, b_mag_pu=br.b_mag_pu / br.ratio**2)
        out.append(br)
    return dataclasses.replace(rn, branches=tuple(out))


@pytest.fixture(scope="module")
def tapped(lv: Grid) -> tuple[Grid, Any, Feeder, dict[int, int]]:
    """LV-rural1 with its 20/0.4 kV trafo two steps above neutral (2.5 % each on the hv side: n = 1.05), built the
    way network_source builds a feeder (radial_network, then feeder_from_radial)."""
    net = copy.deepcopy(lv.net)
    net.trafo["tap_changer_type"] = "Ratio"
    net.trafo["tap_pos"] = net.trafo["tap_neutral"] + 2
    rn = _magnetising_behind_the_ratio(radial_network(net, LV), net)
    number = {node: k + 1 for k, node in enumerate(rn.nodes)}
    bus_of = {b: number[node] for b, node in rn.node_of.items()}
    f = feeder_from_radial(rn, LV, np.zeros(len(rn.nodes)), np.zeros(len(rn.nodes)))
    return lv, net, f, bus_of


def test_tap_ratio_ac_and_lindistflow_match_pandapower(tapped: tuple[Grid, Any, Feeder, dict[int, int]]) -> None:
    lv, net, f, bus_of = tapped
    assert sorted(set(np.round(f.ratios(), 12))) == [1.0, 1.05]
    steps = lv.steps[:3]
    ref = _runpp(lv, steps, net)
    untapped = _runpp(lv, steps)
    p, q, gen = _injections(lv, f, bus_of, steps)
    ac = ac_power_flow_series(f, p, q, gen, v0_pu=lv.v0_pu)
    assert np.abs(_at_pp_buses(ac.v_pu, f, bus_of, ref.buses) - ref.v_pu).max() <= 5e-5
    np.testing.assert_allclose(ac.losses_kw, ref.losses_kw, rtol=0.01)
    # the tap lowers every LV voltage by about 1/1.05 (the trafo's hv bus is the only other one)
    lv_buses = [k for k, b in enumerate(ref.buses) if net.bus.vn_kv[b] < 1.0]
    ratio = ref.v_pu[:, lv_buses] / untapped.v_pu[:, lv_buses]
    assert np.all(np.abs(ratio - 1 / 1.05) < 0.002)
    ldf = lindistflow(f, p, q, gen, v0_pu=lv.v0_pu)
    assert np.abs(ldf.v_pu - ac.v_pu).max() <= 0.001
    # the pandapower model of the feeder itself (a trafo for the ratio, shunts) is the AC model exactly
    mirror = ac_power_flow_series_pandapower(f, p, q, gen, v0_pu=lv.v0_pu)
    np.testing.assert_allclose(mirror.v_pu, ac.v_pu, rtol=0, atol=1e-8)
    np.testing.assert_allclose(mirror.losses_kw, ac.losses_kw, rtol=1e-6)
    np.testing.assert_allclose(mirror.q_sub_kvar, ac.q_sub_kvar, rtol=0, atol=1e-3)


def test_small_feeder_with_ratios_below_and_above_one_matches_pandapower() -> None:
    f = Feeder(name="tiny", buses=(1, 2, 3, 4),
               branches=(Branch(1, 2, 0.5, 2.0, 1.05), Branch(2, 3, 2.0, 1.0), Branch(2, 4, 0.5, 0.5, 0.97)),
               p_load_kw=np.array([0.0, 100.0, 200.0, 300.0]), q_load_kvar=np.array([0.0, 50.0, 100.0, 0.0]),
               v_base_kv=10.0, s_base_mva=1.0, shunt_g_pu=np.array([0.001, 0.0, 0.002, 0.0]),
               shunt_b_pu=np.array([-0.01, 0.02, 0.0, 0.005]))
    scale = np.array([0.5, 1.0, 2.0])[:, None]
    p, q = scale * f.p_load_kw, scale * f.q_load_kvar
    ac = ac_power_flow_series(f, p, q, v0_pu=1.02)
    ref = ac_power_flow_series_pandapower(f, p, q, v0_pu=1.02)
    np.testing.assert_allclose(ac.v_pu, ref.v_pu, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ac.losses_kw, ref.losses_kw, rtol=1e-9)
    np.testing.assert_allclose(ac.p_sub_kw, ref.p_sub_kw, rtol=0, atol=1e-6)
    # bus 4 sits behind n = 0.97: its voltage is raised above the bus feeding it
    assert np.all(ac.v_pu[:, 3] > ac.v_pu[:, 1])
    assert np.abs(lindistflow(f, p, q, v0_pu=1.02).v_pu - ac.v_pu).max() < 0.002


# ---------------------------------------------------------------------------- the Pyomo block


def test_pyomo_block_with_ratio_and_shunts_reproduces_numpy(tapped: tuple[Grid, Any, Feeder, dict[int, int]]
                                                            ) -> None:
    lv, _, f, bus_of = tapped
    p, q, gen = _injections(lv, f, bus_of, lv.steps[:3])
    h = Horizon(3, 0.25)
    m = pyo.ConcreteModel()
    m.net = pyo.Block()
    nh = build_lindistflow(m.net, f, h, p, q, gen, v0_pu=lv.v0_pu)
    m.obj = pyo.Objective(expr=pyo.quicksum(m.net.p_sub_kw[t] for t in h.periods))
    assert len(m.net.TAPPED) == 1 and len(m.net.SHUNTS) >= 2
    hm = HighsModel(m, "ldf-tapped")
    hm.track_params()
    assert hm.solve().status == "optimal"
    sol = network_solution(hm, nh)
    ref = lindistflow(f, p, q, gen, v0_pu=lv.v0_pu)
    np.testing.assert_allclose(sol.v_pu, ref.v_pu, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sol.p_flow_kw, ref.p_flow_kw, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sol.q_sub_kvar, ref.q_sub_kvar, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sol.p_net_kw, p - gen, rtol=0, atol=1e-6)  # shunts taken out again
    np.testing.assert_allclose(sol.q_net_kvar, q, rtol=0, atol=1e-6)
    # a tap change is a data change of the persistent model: the ratio Param, pushed as a coefficient
    key = next(iter(m.net.TAPPED))
    m.net.ratio[key] = 1.025
    hm.update_params()
    assert hm.solve().status == "optimal"
    f2 = dataclasses.replace(f, branches=tuple(Branch(b.from_bus, b.to_bus, b.r_ohm, b.x_ohm, 1.025)
                                               if b.key == key else b for b in f.branches))
    np.testing.assert_allclose(network_solution(hm, nh).v_pu, lindistflow(f2, p, q, gen, v0_pu=lv.v0_pu).v_pu,
                               rtol=0, atol=1e-6)
