"""Recorded rows: the history writer in the state directory, its files, the reader, and the SMD text format.

Owns: ``writer`` (append rows, rotate and bound the files), ``files`` (file naming and listing), ``reader``
(load a history or an SMD export back), ``smd`` (SMD-format rows and labels).
May import: ``collect.features`` and the base modules; never ``score``, ``model``, ``calibrate``, ``serve``
or ``runtime``.
"""
