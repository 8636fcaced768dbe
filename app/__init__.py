"""The dashboard (issue 18): Mesa's SolaraViz over the engine, and a browser of finished run folders.

``run_sim.py app`` serves it (:mod:`app.serve`); :mod:`app.page` holds the pages, :mod:`app.model` the engine's
run as the page steps it, :mod:`app.components` the panels, :mod:`app.views` what they show (pure pandas), and
:mod:`app.runs` the confined reader of finished output folders.
"""
