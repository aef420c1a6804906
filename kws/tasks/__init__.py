"""The commands' work, from a composed Hydra config: ``train.py``, ``evaluate.py`` and ``detect.py``
call these.

They take the config as an argument (not through ``@hydra.main``) so tests can compose a config
with Hydra's compose API and run exactly what the command line runs. The scripts declare their
main function with ``command`` (``kws.tasks.console``): ``@hydra.main`` with the command line
checked first and the third-party chatter left out.
"""

from kws.tasks.common import report_errors
from kws.tasks.console import command
from kws.tasks.detect import detect
from kws.tasks.evaluate import evaluate
from kws.tasks.train import train

__all__ = ["command", "detect", "evaluate", "report_errors", "train"]
