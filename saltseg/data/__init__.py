"""The competition's files and saltseg's data files: reading archives and mask folders
(:mod:`~saltseg.data.sources`), ``prepare`` (:mod:`~saltseg.data.prepare`), the HDF5 data and
predictions files (:mod:`~saltseg.data.hdf5`), run-length encoding (:mod:`~saltseg.data.rle`),
PNG mask folders (:mod:`~saltseg.data.mask_folder`) and the seeded splits (:mod:`~saltseg.data.split`).

Imports no other stage, and never torch: ``saltseg rle`` and ``prepare`` run without it.
"""
