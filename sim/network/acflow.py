"""A batched AC power flow of a radial feeder: all periods of a day in one vectorised Newton–Raphson.

Model (the same as pandapower's ``runpp`` on the net of :func:`sim.network.lindistflow._template_net`)
-----------------------------------------------------------------------------------------------------
Every branch is a series impedance ``z = (r + j x) / Z_base`` [p.u.] with ``Z_base = V_base² / S_base``, behind an
ideal transformer of off-nominal ratio ``n`` (:attr:`scenarios.feeder.Branch.ratio`, 1 for a line) at its
from-side: the impedance sees ``V_from / n`` and ``V_to``, so with ``y = 1/z`` the branch adds

    Y_ff += y / n²,    Y_ft = Y_tf = −y / n,    Y_tt += y

to the bus admittance matrix (``Y = A^T diag(y) A`` for the incidence matrix ``A`` with ``1/n`` at the from-bus and
``−1`` at the to-bus).  Each bus may carry a shunt admittance ``g + j b`` (:attr:`scenarios.feeder.Feeder.shunt_g_pu`,
``shunt_b_pu``: half of each line's charging, a transformer's magnetising branch), added to ``Y_ii``: a constant
impedance that draws ``g |V|²`` and injects ``b |V|²``.  Loads are constant-PQ and generation runs at unity power
factor, so the specified injection at bus ``i`` in period ``t`` is

    S_spec[t, i] = (p_gen - p_load)[t, i] / (1000 S_base) - j q_load[t, i] / (1000 S_base)   [p.u.]

The substation bus is the slack: magnitude ``v0[t]``, angle 0.  Every other bus is PQ.  The
power-flow equations are ``V_i conj((Y V)_i) = S_spec_i`` for every PQ bus ``i``.

Solution
--------
Newton–Raphson in polar coordinates from a flat start (``|V| = v0``, angle 0), for all periods at once:
the mismatch ``F = [Re; Im](V conj(Y V) - S_spec)`` over the PQ buses and its Jacobian with respect to
``[angle; |V|]`` of the PQ buses (the standard MATPOWER expressions
``dS/d|V| = diag(V) conj(Y diag(V/|V|)) + conj(diag(I)) diag(V/|V|)`` and
``dS/dangle = j diag(V) conj(diag(I) - Y diag(V))`` with ``I = Y V``) are stacked into arrays of shape
``(n_periods, 2(n-1))`` and ``(n_periods, 2(n-1), 2(n-1))`` and solved with one batched
``numpy.linalg.solve`` per iteration.  A period has converged when ``max |F| · S_base`` is below
``tolerance_mva`` (1e-8 MVA, pandapower's default); it then stops being updated.  A period that has not
converged after ``max_iteration`` iterations (10, pandapower's default for Newton–Raphson), or whose
iterate becomes non-finite or whose Jacobian is singular, has not converged.

Results
-------
Voltage magnitudes per bus; losses are the active power lost in the series impedances,
``Σ_branches |V_from / n - V_to|² r / |z|²``, plus the shunts' active power ``Σ_buses g |V|²`` (a transformer's
iron losses; line charging has no active part): what pandapower's ``res_line.pl_mw`` and ``res_trafo.pl_mw`` sum
to.  The substation power is the slack's injection ``V_0 conj((Y V)_0)`` into the branches (and its own shunt) plus
the net demand at the substation bus itself.  kW / kvar as everywhere else.  A feeder with ratio 1 everywhere and no
shunts (IEEE-33) gives exactly the numbers of the series-impedance-only model (multiplying by ``1/n = 1`` and adding
a zero shunt are exact in floating point).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from scenarios.feeder import Feeder

log = logging.getLogger(__name__)

TOLERANCE_MVA = 1e-8
MAX_ITERATION = 10


class PowerFlowError(RuntimeError):
    """The AC power flow did not converge."""


@dataclass(frozen=True)
class AcSeriesResult:
    """AC power flows of several periods: ``v_pu`` is ``(n_periods, n_buses)``, the rest ``(n_periods,)``."""

    v_pu: np.ndarray
    losses_kw: np.ndarray
    p_sub_kw: np.ndarray
    q_sub_kvar: np.ndarray
    converged: np.ndarray


@dataclass(frozen=True)
class _Network:
    """The admittance data of a feeder in p.u. (bus order of ``feeder.buses``)."""

    y_bus: np.ndarray  # (n, n) complex
    incidence: np.ndarray  # (n_branches, n): 1/n at the from-bus, -1 at the to-bus (V_from/n - V_to = A V)
    y_branch: np.ndarray  # (n_branches,) complex series admittance
    r_pu: np.ndarray  # (n_branches,)
    shunt_g_pu: np.ndarray  # (n,) shunt conductance per bus
    root: int
    pq: np.ndarray  # positions of the non-slack buses


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS thread pools, found once per process (a few ms)."""
    return ThreadpoolController()


@functools.cache
def _network(feeder: Feeder) -> _Network:
    r, x = feeder.r_x_ohm()
    z = (r + 1j * x) / feeder.z_base_ohm
    if np.any(np.abs(z) == 0):
        zero = [f"{br.from_bus}->{br.to_bus}" for br, zk in zip(feeder.branches, z, strict=True) if zk == 0]
        raise ValueError(f"Feeder {feeder.name}: branches {zero} have zero impedance (r = x = 0 Ω); the AC power "
                         "flow needs |r + jx| > 0 on every branch")
    y = 1.0 / z
    pos = feeder.bus_position
    a = np.zeros((feeder.n_branches, feeder.n_buses))
    for k, br in enumerate(feeder.branches):
        a[k, pos[br.from_bus]] = 1.0 / br.ratio  # ideal transformer: the impedance sees V_from / n
        a[k, pos[br.to_bus]] = -1.0
    # Y_ff = y/n², Y_ft = Y_tf = -y/n, Y_tt = y per branch; shunts on the diagonal
    y_bus = a.T @ (y[:, None] * a)
    g_sh, b_sh = np.asarray(feeder.shunt_g_pu, dtype=float), np.asarray(feeder.shunt_b_pu, dtype=float)
    y_bus[np.diag_indices(feeder.n_buses)] += g_sh + 1j * b_sh
    root = pos[feeder.root]
    pq = np.array([k for k in range(feeder.n_buses) if k != root], dtype=int)
    return _Network(y_bus=y_bus, incidence=a, y_branch=y, r_pu=r / feeder.z_base_ohm,
                    shunt_g_pu=g_sh, root=root, pq=pq)


def _mismatch(v: np.ndarray, y_bus: np.ndarray, s_spec: np.ndarray, pq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(I, F)``: bus currents ``Y V`` and the stacked real/imaginary power mismatch at the PQ buses."""
    i_bus = v @ y_bus.T
    mis = (v * np.conj(i_bus) - s_spec)[:, pq]
    return i_bus, np.concatenate([mis.real, mis.imag], axis=1)


def _jacobian(v: np.ndarray, i_bus: np.ndarray, y_bus: np.ndarray, pq: np.ndarray) -> np.ndarray:
    """Stacked polar Jacobians ``d[Re S; Im S]/d[angle; |V|]`` over the PQ buses, ``(m, 2k, 2k)``."""
    v_norm = v / np.abs(v)
    # dS/d|V| = diag(V) conj(Y diag(Vn)) + conj(diag(I)) diag(Vn)
    ds_dvm = v[:, :, None] * np.conj(y_bus[None, :, :] * v_norm[:, None, :])
    # dS/dangle = j diag(V) conj(diag(I) - Y diag(V))
    ds_dva = -1j * v[:, :, None] * np.conj(y_bus[None, :, :] * v[:, None, :])
    idx = np.arange(v.shape[1])
    ds_dvm[:, idx, idx] += np.conj(i_bus) * v_norm
    ds_dva[:, idx, idx] += 1j * v * np.conj(i_bus)
    a = ds_dva[:, pq][:, :, pq]
    m = ds_dvm[:, pq][:, :, pq]
    return np.concatenate([np.concatenate([a.real, m.real], axis=2),
                           np.concatenate([a.imag, m.imag], axis=2)], axis=1)


def _solve(jac: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dx, ok)`` with ``jac[t] dx[t] = -f[t]``; ``ok[t]`` False where ``jac[t]`` is singular."""
    try:
        return np.linalg.solve(jac, -f[:, :, None])[:, :, 0], np.ones(len(f), dtype=bool)
    except np.linalg.LinAlgError:
        dx = np.zeros_like(f)
        ok = np.ones(len(f), dtype=bool)
        for t in range(len(f)):
            try:
                dx[t] = np.linalg.solve(jac[t], -f[t])
            except np.linalg.LinAlgError:
                ok[t] = False
        return dx, ok


def newton_raphson_series(
    feeder: Feeder,
    p_net_kw: np.ndarray,
    q_net_kvar: np.ndarray,
    v0_pu: np.ndarray,
    tolerance_mva: float = TOLERANCE_MVA,
    max_iteration: int = MAX_ITERATION,
) -> tuple[AcSeriesResult, np.ndarray]:
    """Solve every period of ``(n_periods, n_buses)`` net demands (load minus generation) at once.

    ``v0_pu`` has one slack voltage per period.  Returns the results (NaN where a period did not
    converge) and the number of iterations per period (``max_iteration`` where it did not converge).
    Input checks are the caller's (:func:`sim.network.lindistflow.ac_power_flow_series`).

    BLAS runs single-threaded here: the matrices are tiny (33 buses), and a threaded BLAS spends
    more time waking threads than computing (7 ms instead of 15 µs per product on a busy 2-core machine).
    """
    with _blas().limit(limits=1, user_api="blas"):
        return _newton_raphson(feeder, p_net_kw, q_net_kvar, v0_pu, tolerance_mva, max_iteration)


def _newton_raphson(
    feeder: Feeder,
    p_net_kw: np.ndarray,
    q_net_kvar: np.ndarray,
    v0_pu: np.ndarray,
    tolerance_mva: float,
    max_iteration: int,
) -> tuple[AcSeriesResult, np.ndarray]:
    net = _network(feeder)
    n_per, nb = p_net_kw.shape
    pq, root, y_bus = net.pq, net.root, net.y_bus
    k = len(pq)
    s_spec = -(p_net_kw + 1j * q_net_kvar) / (1000.0 * feeder.s_base_mva)
    s_spec[:, root] = 0.0  # the slack's injection is a result, not a specification
    va = np.zeros((n_per, nb))
    vm = np.repeat(np.asarray(v0_pu, dtype=float).reshape(-1, 1), nb, axis=1)
    v = vm * np.exp(1j * va)
    tol_pu = tolerance_mva / feeder.s_base_mva
    converged = np.zeros(n_per, dtype=bool)
    failed = np.zeros(n_per, dtype=bool)
    iterations = np.zeros(n_per, dtype=int)
    i_bus, f = _mismatch(v, y_bus, s_spec, pq)
    converged |= np.max(np.abs(f), axis=1) < tol_pu
    for it in range(1, max_iteration + 1):
        act = np.flatnonzero(~converged & ~failed)
        if act.size == 0:
            break
        jac = _jacobian(v[act], i_bus[act], y_bus, pq)
        dx, ok = _solve(jac, f[act])
        failed[act[~ok]] = True
        act, dx = act[ok], dx[ok]
        va[act[:, None], pq[None, :]] += dx[:, :k]
        vm[act[:, None], pq[None, :]] += dx[:, k:]
        v[act] = vm[act] * np.exp(1j * va[act])
        i_new, f_new = _mismatch(v[act], y_bus, s_spec[act], pq)
        i_bus[act], f[act] = i_new, f_new
        bad = ~np.all(np.isfinite(f_new), axis=1)
        failed[act[bad]] = True
        iterations[act] = it
        converged[act[~bad & (np.max(np.abs(f_new), axis=1) < tol_pu)]] = True
    iterations[~converged] = max_iteration
    # results
    dv = v @ net.incidence.T  # V_from / n - V_to per branch: the voltage across the series impedance
    losses = (np.abs(dv) ** 2 * np.abs(net.y_branch) ** 2 * net.r_pu).sum(axis=1)
    if net.shunt_g_pu.any():  # iron losses (line charging has no active part)
        losses = losses + (np.abs(v) ** 2 * net.shunt_g_pu).sum(axis=1)
    # the slack injects what flows into the feeder plus the net demand at its own bus
    s_sub = v[:, root] * np.conj(i_bus[:, root]) + (p_net_kw[:, root] + 1j * q_net_kvar[:, root]) / (
        1000.0 * feeder.s_base_mva)
    scale = 1000.0 * feeder.s_base_mva
    nan = ~converged
    vmag = np.abs(v)
    vmag[nan] = np.nan
    losses_kw = losses * scale
    p_sub = s_sub.real * scale
    q_sub = s_sub.imag * scale
    for arr in (losses_kw, p_sub, q_sub):
        arr[nan] = np.nan
    return (AcSeriesResult(v_pu=vmag, losses_kw=losses_kw, p_sub_kw=p_sub, q_sub_kvar=q_sub, converged=converged),
            iterations)
