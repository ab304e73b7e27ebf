"""Recorded rows and scores: the history writer in the state directory, its files, the reader, the SMD text
format, and the ring of the last day's scores.

Owns: ``writer`` (append rows, rotate and bound the files), ``files`` (file naming and listing), ``reader``
(load a history or an SMD export back), ``smd`` (SMD-format rows and labels), ``scores`` (the score ring the
landing page, ``/api/v1/history`` and ``explain`` read).
May import: ``collect.features`` and the base modules; never ``score`` (the ring stores plain numbers),
``model``, ``calibrate``, ``serve`` or ``runtime``.
"""
