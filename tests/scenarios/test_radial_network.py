"""The operating topology of a pandapower network as a radial per-unit tree (scenarios/radial_network.py, SPEC §9):
hand-computed impedances, switches honoured, parallel transformers and couplers fused, loops and islands refused."""

from __future__ import annotations

import math

import pytest

from scenarios.feeder import _pandapower, load_ieee33
from scenarios.radial_network import MeshedNetworkError, radial_network
from scenarios.schema import ScenarioError

pp = _pandapower()


def mv_net(close_loop: bool = False, open_switch: bool = False):  # type: ignore[no-untyped-def]
    """110 kV grid -> two parallel 25 MVA transformers between coupled bus-bar pairs -> 20 kV ring of four buses
    (lines 0-2 radial, line 3 closes the ring back to the bus bar)."""
    net = pp.create_empty_network(sn_mva=1.0, f_hz=50.0)
    hv1, hv2 = pp.create_bus(net, 110.0, name="HV a"), pp.create_bus(net, 110.0, name="HV b")
    lv1, lv2 = pp.create_bus(net, 20.0, name="MV a"), pp.create_bus(net, 20.0, name="MV b")
    pp.create_switch(net, hv1, hv2, et="b", closed=True)
    pp.create_switch(net, lv1, lv2, et="b", closed=True)
    pp.create_ext_grid(net, hv1, vm_pu=1.02)
    for hv, lv in ((hv1, lv1), (hv2, lv2)):
        pp.create_transformer_from_parameters(net, hv, lv, sn_mva=25.0, vn_hv_kv=110.0, vn_lv_kv=20.0,
                                              vkr_percent=1.0, vk_percent=10.0, pfe_kw=10.0, i0_percent=0.1)
    ring = [pp.create_bus(net, 20.0, name=f"MV {k}") for k in range(1, 4)]
    prev = lv1
    for b in ring:
        pp.create_line_from_parameters(net, prev, b, length_km=2.0, r_ohm_per_km=0.2, x_ohm_per_km=0.4,
                                       c_nf_per_km=200.0, max_i_ka=0.3)
        prev = b
    tie = pp.create_line_from_parameters(net, ring[-1], lv2, length_km=3.0, r_ohm_per_km=0.2, x_ohm_per_km=0.4,
                                         c_nf_per_km=200.0, max_i_ka=0.3, in_service=close_loop or open_switch)
    if open_switch:
        pp.create_switch(net, ring[-1], tie, et="l", closed=False)
    return net


def test_lines_and_parallel_transformers_on_one_per_unit_base_by_hand() -> None:
    rn = radial_network(mv_net(), "test grid")
    assert rn.root == 0 and rn.v0_pu == 1.02 and rn.s_base_mva == 1.0
    assert rn.members[0] == (0, 1) and rn.members[2] == (2, 3)  # the couplers fuse each bus-bar pair
    assert rn.nodes == (0, 2, 4, 5, 6)
    trafo, *lines = rn.branches
    # one transformer: t = (20/20)^2 * 1 MVA; |z| = 0.10 * t / 25 = 0.004; r = 0.01 / 25 = 0.0004; two in parallel
    assert trafo.elements == (("trafo", 0), ("trafo", 1)) and trafo.ratio == 1.0
    assert trafo.r_pu == pytest.approx(0.0004 / 2) and trafo.x_pu == pytest.approx(math.sqrt(0.004**2 - 0.0004**2) / 2)
    # line: (0.2 + 0.4j) Ω/km * 2 km / (20 kV^2 / 1 MVA = 400 Ω); charging 2π 50 * 200e-9 * 2 * 400 / 2 at each end
    for ln in lines:
        assert ln.r_pu == pytest.approx(0.4 / 400) and ln.x_pu == pytest.approx(0.8 / 400)
        assert ln.b_half_pu == pytest.approx(2 * math.pi * 50 * 200e-9 * 2 * 400 / 2)
    assert rn.parent == {2: 0, 4: 2, 5: 4, 6: 5} and rn.tie_lines == ()


def test_a_closed_ring_is_refused_naming_its_loop_and_an_open_switch_makes_it_a_tie_line() -> None:
    with pytest.raises(MeshedNetworkError, match=r"test grid: meshed operating topology: loop through .*MV 3 \(6\)"):
        radial_network(mv_net(close_loop=True), "test grid")
    rn = radial_network(mv_net(open_switch=True), "test grid")
    assert rn.tie_lines == (3,) and len(rn.branches) == 4


def test_a_tap_counts_only_with_a_tap_changer_type_as_in_pandapower() -> None:
    net = mv_net()
    net.trafo["tap_side"] = "hv"
    net.trafo["tap_neutral"] = 0.0
    net.trafo["tap_step_percent"] = 2.5
    net.trafo["tap_pos"] = 2.0
    assert radial_network(net).branches[0].ratio == 1.0  # no tap_changer_type: pandapower ignores tap_pos
    net.trafo["tap_changer_type"] = "Ratio"
    assert radial_network(net).branches[0].ratio == pytest.approx(1.05)


def test_what_the_radial_model_cannot_represent_is_refused() -> None:
    net = mv_net()
    pp.create_ext_grid(net, 5)
    with pytest.raises(ScenarioError, match=r"exactly one in-service external grid \(the substation\), found 2"):
        radial_network(net, "x.json")
    net = mv_net()
    island = pp.create_bus(net, 20.0, name="island")
    with pytest.raises(ScenarioError, match=r"x.json: 1 node\(s\) not connected to the external grid: island"):
        radial_network(net, "x.json")
    net.bus.at[island, "in_service"] = False
    assert len(radial_network(net).nodes) == 5  # an out-of-service bus is not a node
    net = mv_net()
    pp.create_shunt(net, 4, q_mvar=0.1)
    with pytest.raises(ScenarioError, match="1 in-service shunt element"):
        radial_network(net)


def test_ieee33_is_its_feeder_in_per_unit() -> None:
    """case33bw (single voltage, no transformer) gives the shipped IEEE-33 feeder's impedances over Z_base."""
    net = pp.networks.case33bw()
    rn = radial_network(net, "case33bw")
    f = load_ieee33()
    z_base = f.v_base_kv**2 / float(net.sn_mva)
    by_to = {br.to_node + 1: br for br in rn.branches}  # pandapower bus k is the paper's bus k + 1
    assert len(by_to) == f.n_branches == 32 and len(rn.tie_lines) == 0
    for b in f.branches:
        br = by_to[b.to_bus]
        assert br.from_node + 1 == b.from_bus
        assert br.r_pu * z_base == pytest.approx(b.r_ohm, rel=1e-9)
        assert br.x_pu * z_base == pytest.approx(b.x_ohm, rel=1e-9)
