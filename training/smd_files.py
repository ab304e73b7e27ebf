"""The SMD directory layout on disk: one machine's rows, labels and interpretation written as text files.

:func:`write_smd` lays a :class:`training.synth.SynthData` out the way the
SMD dataset ships (``train/``, ``test/``, ``test_label/`` and
``interpretation_label/``, one ``<machine>.txt`` each), so that
:func:`agent.history.smd.load_machine` and every training command read it
like the real data.  Compressed files are byte-identical from run to run
(gzip without a name or a timestamp), so fixtures regenerate to the same bytes.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from agent.history.smd import format_rows
from training.synth import SynthData


def _write(path: Path, text: str, compress: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not compress:
        path.write_text(text, encoding="utf-8")
        return path
    path = path.with_name(path.name + ".gz")
    with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
        gz.write(text.encode("utf-8"))  # mtime=0 and no name: same bytes on every run
    return path


def write_smd(root: Path, machine: str, data: SynthData, compress: bool = False) -> list[Path]:
    """Write ``root/{train,test,test_label,interpretation_label}/<machine>.txt`` (``.txt.gz`` if compress)."""
    if not machine or "/" in machine or "\\" in machine or machine.startswith("."):
        raise ValueError(f"bad machine name {machine!r}")
    root = Path(root)
    lines = "".join(f"{a.start}-{a.end}:{','.join(str(d + 1) for d in a.dims)}\n" for a in data.interpretation)
    return [
        _write(root / "train" / f"{machine}.txt", format_rows(data.train), compress),
        _write(root / "test" / f"{machine}.txt", format_rows(data.test), compress),
        _write(root / "test_label" / f"{machine}.txt", "".join(f"{int(v)}\n" for v in data.labels), compress),
        _write(root / "interpretation_label" / f"{machine}.txt", lines, compress),
    ]
