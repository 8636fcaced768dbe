"""The files of the paper-002 study: their columns, shared by :mod:`.run` (which writes them) and :mod:`.report`
(which reads them back).  See :mod:`.run` for what each file holds."""

from __future__ import annotations

from agents.rural_campus import DISPATCH_COLUMNS

METHOD_COLUMNS: tuple[str, ...] = (
    "method", "objective", "first_stage_cost", "historical_cost", "worst_cost", "worst_sample_cost",
    "iterations", "gap", "solve_seconds", "wall_seconds", "lam", "beta", "hist_bound", "n_cuts", "solver",
    "h_rel_to_so", "w_rel_to_so", "theta_1", "theta_inf",
)
#: Columns of every ``sensitivity_*.csv`` after the varied parameter(s) (:data:`PARAMETERS`).
POINT_COLUMNS: tuple[str, ...] = (
    "M", "K", "alpha_inf", "alpha_1", "theta_1", "theta_inf", "lam", "eps", "sigma", "error_bound",
    "objective_method", "objective", "historical_cost", "worst_cost", "first_stage_cost", "worst_sample_cost",
    "iterations", "gap", "solve_seconds", "wall_seconds", "hist_bound",
    "so_historical_cost", "so_worst_cost", "dro_objective", "dro_historical_cost", "dro_iterations",
    "dro_solve_seconds", "h_loss_vs_so", "w_gain_vs_so", "worst_l1", "n_at_theta_inf", "point_seconds",
)
#: The varied parameter(s) of each sensitivity file, written first.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "M": ("M",), "K": ("K",), "alpha": ("alpha_inf", "alpha_1"), "lambda": ("lam",), "degree": ("degree",),
    "gap": ("eps",),
}
SENSITIVITY_FILES: dict[str, str] = {part: f"sensitivity_{part}.csv" for part in PARAMETERS}
SENSITIVITY_COLUMNS: dict[str, tuple[str, ...]] = {
    part: (*params, *(c for c in POINT_COLUMNS if c not in params)) for part, params in PARAMETERS.items()
}
CONVERGENCE_COLUMNS: tuple[str, ...] = ("part", "point", "method", "iteration", "lb", "ub")
SAMPLE_COST_COLUMNS: tuple[str, ...] = ("method", "sample", "p0", "p_worst", "recourse_cost", "total_cost")
TIMESERIES_COLUMNS: tuple[str, ...] = DISPATCH_COLUMNS
PARTS: tuple[str, ...] = ("methods", "lambda", "gap", "alpha", "M", "K", "degree")
