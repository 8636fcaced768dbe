"""market.interfaces: validation of Offer / Allocation / PriceTrace and the bargaining.csv frame."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from market.interfaces import BARGAINING_COLUMNS, Allocation, Offer, Participant, PriceTrace


def test_offer_copies_and_freezes_arrays() -> None:
    raw = np.array([1.0, -2.0])
    offer = Offer("C1", 12, exchange_kw=raw, net_demand_kw=[3, 4])
    raw[0] = 99.0
    assert offer.exchange_kw is not None and offer.exchange_kw[0] == 1.0
    assert isinstance(offer.cost, float) and offer.n_periods == 2
    with pytest.raises(ValueError, match="read-only"):
        offer.exchange_kw[0] = 5.0
    assert Offer("C1", 0.0).n_periods is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"participant": ""}, "participant must be a non-empty string"),
        ({"cost": math.nan}, "offer of 'C1': cost must be finite"),
        ({"dt_h": 0.0}, "offer of 'C1': dt_h must be a finite period length > 0 h"),
        ({"exchange_kw": [1.0, math.inf]}, "offer of 'C1': exchange_kw must be finite; entry 1 is inf"),
        ({"net_demand_kw": [[1.0]]}, "offer of 'C1': net_demand_kw must be 1-D"),
        ({"exchange_kw": [1.0], "net_demand_kw": [1.0, 2.0]}, "must cover the same periods, got 1 and 2"),
    ],
)
def test_offer_validation(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"participant": "C1", "cost": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        Offer(**args)


def _allocation(**overrides: Any) -> Allocation:
    args: dict[str, Any] = {
        "participants": ("C1", "C2"),
        "standalone_cost": [100.0, 50.0],
        "coalition_cost": [70.0, 60.0],
        "weight": [0.6, 0.4],
        "payment": [18.0, -18.0],
        "energy_out_kwh": [20.0, 0.0],
        "energy_in_kwh": [0.0, 20.0],
        "surplus": 20.0,
        "kappa": 0.5,
    } | overrides
    return Allocation(**args)


def test_allocation_frame_has_exactly_the_bargaining_columns() -> None:
    frame = _allocation().to_frame()
    assert tuple(frame.columns) == BARGAINING_COLUMNS
    assert frame["cluster"].tolist() == ["C1", "C2"]
    np.testing.assert_allclose(frame["final_cost"], [88.0, 42.0])
    np.testing.assert_allclose(frame["gain"], [12.0, 8.0])


def test_allocation_index() -> None:
    alloc = _allocation()
    assert alloc.index("C2") == 1 and alloc.n == 2
    with pytest.raises(ValueError, match=r"unknown participant 'C9'; known: \['C1', 'C2'\]"):
        alloc.index("C9")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"participants": ()}, "at least one participant"),
        ({"participants": ("C1", "C1")}, r"unique; repeated: \['C1'\]"),
        ({"payment": [1.0]}, "payment must have 2 entries"),
        ({"energy_in_kwh": [0.0, -1.0]}, "energy_in_kwh of 'C2' must be >= 0 kWh"),
        ({"weight": [1.0, 0.0]}, "weight of 'C2' must be > 0"),
        ({"weight": [0.5, 0.6]}, "weights must sum to 1"),
        ({"surplus": -1.0}, "surplus .* must be finite and >= 0"),
        ({"kappa": 1.0}, r"kappa .* must be in \[0, 1\)"),
        ({"standalone_cost": [math.nan, 1.0]}, "standalone_cost must be finite"),
    ],
)
def test_allocation_validation(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _allocation(**overrides)


def test_price_trace_validation_and_properties() -> None:
    good: dict[str, Any] = {
        "prices": np.full((2, 3), 0.11),
        "excess_demand_kw": [[1.0, -2.0, 0.0], [0.5, 0.0, -3.0]],
        "lo": np.full((2, 3), 0.03),
        "hi": np.full((2, 3), 0.25),
        "max_rel_change": [0.5, 0.005],
        "final_prices": [0.1, 0.1, 0.1],
        "converged": True,
        "xi": 0.01,
        "tol_z": 1.0,
    }
    trace = PriceTrace(**good)
    assert trace.iterations == 2 and trace.n_periods == 3 and trace.max_abs_excess_kw == 3.0
    with pytest.raises(ValueError, match=r"PriceTrace.lo must have shape \(2, 3\)"):
        PriceTrace(**(good | {"lo": np.zeros((1, 3))}))
    with pytest.raises(ValueError, match=r"PriceTrace\.prices must be 2-D"):
        PriceTrace(**(good | {"prices": np.zeros(3)}))
    with pytest.raises(ValueError, match=r"final_prices must have shape \(3,\)"):
        PriceTrace(**(good | {"final_prices": [0.1]}))


class _Fake:
    name = "fake"

    def standalone(self) -> Offer:
        return Offer(self.name, 0.0)

    def respond(self, prices: np.ndarray) -> Offer:
        return Offer(self.name, 0.0, net_demand_kw=np.zeros_like(prices))


def test_participant_protocol_is_structural() -> None:
    assert isinstance(_Fake(), Participant)
    assert not isinstance(object(), Participant)
