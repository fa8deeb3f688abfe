"""Figures of a hyperparameter search, drawn by Optuna's matplotlib backend: the objective of
every trial with the best so far, and the parameters' importances (Optuna's default fANOVA
evaluator). Optuna switches matplotlib to its ggplot style; the style is restored afterwards."""

from __future__ import annotations

import warnings

import matplotlib
import optuna
from matplotlib.figure import Figure

__all__ = ["plot_search_history", "plot_search_importances"]


def _draw(plot, study: optuna.Study):
    with warnings.catch_warnings(), matplotlib.rc_context():  # experimental backend; its style
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return plot(study)


def plot_search_history(study: optuna.Study, title: str) -> Figure:
    """Objective value per trial and the best value so far."""
    ax = _draw(optuna.visualization.matplotlib.plot_optimization_history, study)
    ax.set_title(title)
    ax.set_ylabel(f"val {study.user_attrs.get('metric_key', 'objective')}")
    return ax.figure


def plot_search_importances(study: optuna.Study, title: str) -> Figure:
    """Each searched parameter's importance for the objective (two or more finished trials)."""
    ax = _draw(optuna.visualization.matplotlib.plot_param_importances, study)
    ax.set_title(title, loc="left")
    return ax.figure
