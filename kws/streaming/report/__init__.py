"""Streaming scores presented: ``stream_metrics.json``'s content, its summary table, and the DET
curve as ``det_curve.csv`` and ``det_curve.png``.

* ``kws.streaming.report.metrics``: ``stream_metrics.json``'s content, one stream's
  (``stream_metrics``) or several pooled (``pooled_metrics``), and the best DET point within each
  false-accept budget (``budgets``).
* ``kws.streaming.report.summary``: that content as a plain-text table (``format_summary``).
* ``kws.streaming.report.det_figure``: the DET curve drawn (``det_curve_figure``) and written
  (``write_det_curve``).

The numbers come from ``kws.streaming.scoring``. Nothing here imports torch until the figure is
written (``write_det_curve``, with ``kws.plotting.images``).
"""

from kws.streaming.report.det_figure import (
    DEFAULT_THRESHOLD,
    DET_COLUMNS,
    FALLBACK_FA_PER_HOUR,
    FALLBACK_FRR,
    THRESHOLD_MARKERS,
    det_curve_figure,
    write_det_curve,
)
from kws.streaming.report.metrics import budgets, pooled_metrics, stream_metrics
from kws.streaming.report.summary import format_summary, print_summary

__all__ = [
    "DEFAULT_THRESHOLD",
    "DET_COLUMNS",
    "FALLBACK_FA_PER_HOUR",
    "FALLBACK_FRR",
    "THRESHOLD_MARKERS",
    "budgets",
    "det_curve_figure",
    "format_summary",
    "pooled_metrics",
    "print_summary",
    "stream_metrics",
    "write_det_curve",
]
