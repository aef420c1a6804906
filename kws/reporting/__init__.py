"""Reporting, a layer above training: figures of a model and of its results (``figures``), run
comparisons (``compare``) and the sweep hook that writes them (``sweep``). It may import
``kws.training``; training never imports it (``tests/test_layers.py``). Scores are
``kws.training.scores``'; the figures training draws itself are ``kws.plotting``'s."""
