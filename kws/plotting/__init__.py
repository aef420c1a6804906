"""Figures kws draws of its own parts, below training and reporting in the layers.

``frontend`` draws a frontend against its initial basis; ``images`` renders figures to pixels and
writes them as PNG files. Nothing here imports ``kws.training``, ``kws.tasks`` or
``kws.reporting`` (``tests/test_layers.py``), so training's callbacks draw with it, and the
reports (``kws.reporting``) build on it.
"""
