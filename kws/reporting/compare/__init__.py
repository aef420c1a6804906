"""Compare training runs (the work behind ``python -m kws.compare DIR [DIR ...] [-o OUT]``).

Finds every run under the folders given (a folder holding the ``config.yaml`` and
``metrics.json`` that ``train.py`` writes) and groups runs whose configs differ only in seed into
settings. Per setting: the model, the frontend and which of its parts train, trainable parameter
counts, validation and test accuracy and test F1 as mean, standard deviation and 95% confidence
interval over seeds (t distribution), the validation streams' figures of stream-aware runs, and
how far the frontend drifted. Each setting whose frontend trains is tested against its fixed
baseline (the setting whose frontend trains nothing, with the same head, data, schedule and
number of filters), paired by seed (``ttest_rel``), and called better or worse only where the
test says so at p < 0.05. Writes ``comparison.md``,
``comparison.csv`` (settings), ``comparison_paired.csv`` (tests) and the figures
``comparison.png`` (accuracy and drift per setting), ``comparison_n_mels.png`` (accuracy against
the number of filters), ``comparison_gain.png`` (gain from training against the head's size) and
``comparison_centres.png`` (learned filter centres against initial ones, from the checkpoints).

One job a file: ``runs`` (find and read runs), ``statistics`` (over seeds), ``settings`` (runs
grouped), ``paired`` (trainable against fixed), ``centres`` (from the checkpoints), ``markdown``
and ``csv_files`` (the tables), ``text`` and ``figures`` (the figures), ``report``
(``write_comparison``, all of it).
"""

from kws.reporting.compare.centres import Centres, read_centres
from kws.reporting.compare.figures import (
    centres_figure,
    comparison_figure,
    gain_figure,
    n_mels_figure,
)
from kws.reporting.compare.paired import PairedTest, fixed_baseline, paired_test, paired_tests
from kws.reporting.compare.report import write_comparison
from kws.reporting.compare.runs import NoRunsError, Run, find_runs, read_run
from kws.reporting.compare.settings import Setting, group_settings
from kws.reporting.compare.statistics import Summary, summarise

__all__ = [
    "Centres",
    "NoRunsError",
    "PairedTest",
    "Run",
    "Setting",
    "Summary",
    "centres_figure",
    "comparison_figure",
    "find_runs",
    "fixed_baseline",
    "gain_figure",
    "group_settings",
    "n_mels_figure",
    "paired_test",
    "paired_tests",
    "read_centres",
    "read_run",
    "summarise",
    "write_comparison",
]
