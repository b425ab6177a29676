"""Exports are pure functions of stored runs; JSONL is the canonical, lossless format and imports back.

Formats (``memlab export RUN_ID --format F``, and the Runs page):

* ``jsonl``: a header line (the run: config, versions with git sha, summary), then one line per
  step (keyframe snapshots inline), then one per cross-run memory entry the run recorded. :func:`import_jsonl` reads it back into a store.
* ``minari``: a Minari dataset of a MiniGrid/BabyAI run (``path`` is the datasets root).
* ``atif``: ATIF v1.4 JSON (Agent Trajectory Interchange Format).
* ``html``: a self-contained offline replay report (step navigator, plots, memory graph).
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterable

from lab.core.errors import ConfigError
from lab.exporters.atif import atif_document
from lab.exporters.html_report import render_report
from lab.exporters.jsonl import import_jsonl, jsonl_lines, parse_jsonl
from lab.exporters.minari_export import export_minari
from lab.store import RunStore

FORMATS = ("jsonl", "minari", "atif", "html")
SUFFIX = {"jsonl": ".jsonl", "minari": "", "atif": ".atif.json", "html": ".html"}
"""File name ending per format (a Minari export is a folder)."""

__all__ = ["FORMATS", "SUFFIX", "export_run", "export_bytes", "import_jsonl", "import_file", "jsonl_lines",
           "parse_jsonl", "default_path"]


def default_path(run_id: str, fmt: str) -> Path:
    """``<run id><suffix>`` in the working directory (``<run id>-minari`` for Minari datasets)."""
    return Path(f"{run_id}-minari" if fmt == "minari" else f"{run_id}{SUFFIX.get(fmt, '')}")


def _write_text(path: Path, chunks: Iterable[str]) -> int:
    """Write ``chunks`` atomically (a ``.part`` file renamed at the end); returns how many were written.

    The chunks are JSON: a lone surrogate (a reply cut inside an emoji) can only stand in a string
    literal, where ``backslashreplace`` writes it as an escape such as ``\\ud800``, which a JSON
    reader reads back.
    """
    count = 0
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8", errors="backslashreplace") as out:
            for chunk in chunks:
                out.write(chunk)
                count += 1
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:  # a failed record or an interrupt: no half-written file is left
        tmp.unlink(missing_ok=True)
        raise
    return count


def _jsonl(store: RunStore, run_id: str, path: Path) -> int:
    return _write_text(path, (line + "\n" for line in jsonl_lines(store, run_id)))


def _atif(store: RunStore, run_id: str, path: Path) -> int:
    document = atif_document(store, run_id)
    _write_text(path, [json.dumps(document, ensure_ascii=False, indent=1)])
    return len(document["steps"])


def _html(store: RunStore, run_id: str, path: Path) -> int:
    _write_text(path, [render_report(store, run_id)])
    return store.get_run(run_id).n_steps


WRITERS: dict[str, Callable[[RunStore, str, Path], int]] = {
    "jsonl": _jsonl, "minari": export_minari, "atif": _atif, "html": _html,
}


def export_run(store: RunStore, run_id: str, fmt: str, path: Path) -> int:
    """Write one run in ``fmt`` to ``path``.

    Returns the number of lines (jsonl), steps (atif, html) or episodes (minari) written.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    store.get_run(run_id)
    return WRITERS[fmt](store, run_id, Path(path))


def export_bytes(store: RunStore, run_ids: list[str], fmt: str,
                 progress: Callable[[int, int], None] | None = None) -> tuple[str, bytes]:
    """Runs exported for a download: one file as is, several runs (or a Minari dataset) as a zip."""
    with tempfile.TemporaryDirectory(prefix="memlab-export-") as tmp:
        root = Path(tmp)
        for done, run_id in enumerate(run_ids, start=1):
            export_run(store, run_id, fmt, root / default_path(run_id, fmt))
            if progress:
                progress(done, len(run_ids))
        entries = sorted(root.iterdir())
        if len(entries) == 1 and entries[0].is_file():
            return entries[0].name, entries[0].read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                archive.write(file, file.relative_to(root).as_posix())
        name = f"{run_ids[0]}-{fmt}.zip" if len(run_ids) == 1 else f"memlab-{len(run_ids)}-runs-{fmt}.zip"
        return name, buffer.getvalue()


def import_file(store: RunStore, path: Path) -> str:
    """Import a JSONL trace file; errors name the line and the problem, and nothing is imported."""
    try:
        with Path(path).open(encoding="utf-8") as lines:
            return import_jsonl(store, lines)
    except UnicodeDecodeError:
        offset = first_bad_byte(Path(path))
        raise ConfigError(f"{path} is not UTF-8 text (byte {offset}): not a JSONL trace") from None
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None


def first_bad_byte(path: Path) -> int:
    """The file offset of the first byte that is not UTF-8 (the text reader's own offset is inside a chunk)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start
    return -1
