"""Using a trained run or ensemble on tiles: the predictor (:mod:`~saltseg.inference.predictor`),
its forward passes (:mod:`~saltseg.inference.passes`), ``predict``, ``threshold`` with its sweep
(:mod:`~saltseg.inference.sweep`) and ``evaluate``.

Never imports training: a run directory is all it needs.
"""
