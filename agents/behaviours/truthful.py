"""``truthful`` (SPEC §8): the default behaviour, every hook as :class:`agents.behaviours.base.Behaviour` has it."""

from __future__ import annotations

from agents.behaviours.base import Behaviour


class Truthful(Behaviour):
    """Reports its true ``C^0_n``, offers all flexibility, plans on the common forecast, risk-neutral, always joins.

    It changes nothing: a run whose agents are all truthful is the run without behaviours, number for number."""
