"""Helpers behind ``pipeline.py``: the batch runner and everything around it.

Modules (each small, each importable without torch or the Numba kernels):

- :mod:`runner.errors`     the ``PipelineError`` family (re-exported by ``pipeline``)
- :mod:`runner.settings`   :class:`~runner.settings.Settings`, validation, TOML presets
- :mod:`runner.discover`   finding RAW files in folders, mapping them to outputs
- :mod:`runner.masks`      sidecar mask PNGs (white = hole)
- :mod:`runner.icc`        ICC profiles (sRGB, linear sRGB, gamma) for the writers
- :mod:`runner.png`        a small 8/16-bit RGB PNG encoder (Pillow cannot write 48-bit PNG)
- :mod:`runner.writers`    TIFF / PNG / JPEG writers with metadata, atomic write-then-rename
- :mod:`runner.resume`     settings fingerprints and the per-output ``.rawcomplete.json`` sidecar
- :mod:`runner.record`     :class:`~runner.record.FileRecord`: the typed per-file record of reports
- :mod:`runner.work`       ``process_file(task) -> FileRecord``: the picklable per-file function
- :mod:`runner.executors`  the executor seam; the local spawn pool with crash isolation
- :mod:`runner.dask_executor`  the same per-file function on a Dask cluster (``--executor dask``)
- :mod:`runner.batch`      planning a batch, running it, the JSON report, exit codes
- :mod:`runner.cli`        the ``rawcomplete`` command line
- :mod:`runner.check`      ``rawcomplete check``: regression checks against a REFDIR of references
"""
