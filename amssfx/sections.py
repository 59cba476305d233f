"""Generated sections of a document: the text between <!-- name:start --> and <!-- name:end -->."""
from __future__ import annotations

from pathlib import Path


def update_section(path, name: str, text: str) -> None:
    """Replace the section of a document between <!-- name:start --> and <!-- name:end -->."""
    p = Path(path)
    doc = p.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in doc or end not in doc:
        raise ValueError(f"{p} has no {start} ... {end} section")
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    p.write_text(f"{head}{start}\n{text.rstrip()}\n{end}{tail}")
