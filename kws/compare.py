"""``python -m kws.compare DIR [DIR ...] [-o OUT]``: compare training runs in one report.

The entry point only; the work is ``kws.reporting.compare``'s (``write_comparison``).
"""

from kws.reporting.compare import main

if __name__ == "__main__":
    main()
