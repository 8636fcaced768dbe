"""The paper studies (``run_sim.py study <name>``): one package per paper, shared helpers in :mod:`studies.common`.

:data:`STUDIES` lists the study declarations (:class:`~studies.common.cli.StudySpec`): the four papers, then
the behaviour study ``incentives`` (issue 16), in the order of ``run_sim.py study --help``.
"""

from __future__ import annotations

from studies.common.cli import StudySpec
from studies.incentives import STUDY as INCENTIVES
from studies.p000_three_campus import STUDY as CAMPUS
from studies.p002_rural import STUDY as RURAL
from studies.p003_lowcarbon import STUDY as LOWCARBON
from studies.p004_ieee33 import STUDY as IEEE33

STUDIES: tuple[StudySpec, ...] = (CAMPUS, IEEE33, RURAL, LOWCARBON, INCENTIVES)
