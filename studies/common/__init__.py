"""What the four paper studies share (the studies themselves never import one another).

- :mod:`studies.common.cli`: the ``run_sim.py study`` subcommands, one :class:`~studies.common.cli.StudySpec` per
  study and one handler for all of them;
- :mod:`studies.common.pool`: the task pool (one process per worker, a persistent state per process, results in
  task order);
- :mod:`studies.common.io`: reading a finished study's files back (``--report-only``), progress messages;
- :mod:`studies.common.report`: the figure loop, the ``report.md`` writer, ``render_study`` (load, draw, write);
- :mod:`studies.common.verdict`: a paper's trend checked against a study, and how a list of them is rendered;
- :mod:`studies.common.markdown`: markdown tables with formatted numbers and escaped cells;
- :mod:`studies.common.plots`: plot helpers (step lines and bands over periods, the 0–24 h axis).
"""
