"""``python -m kws.compare DIR [DIR ...] [-o OUT]``: the comparison command (``__main__``).

The report itself is ``kws.reporting.compare``'s (``write_comparison``).
"""
