"""The ``train`` stage and everything only it uses: options (:mod:`~saltseg.training.options`) and
config (:mod:`~saltseg.training.config`), the stage function (:mod:`~saltseg.training.stage`), the
epoch loop (:mod:`~saltseg.training.trainer`) and its steps, data, losses, augmentation, budget,
schedules, snapshots, weight averaging, checkpoint state, distributed ranks, pseudo-labels and
students.

May import inference (validation predicts as inference does), never seismic or export.
"""
