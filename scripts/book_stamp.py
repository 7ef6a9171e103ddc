"""Fingerprint of everything the HTML book is built from.

`python scripts/book_stamp.py write` records it in _build/ after a strict build succeeded;
`python scripts/book_stamp.py check` exits 0 only when _build/html is a strict build of exactly
the current sources. The tests (which build the book for the browser test) and
scripts/build.sh use it so that CI does not build the same book twice.
"""

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = ROOT / "_build" / ".strict-build.sha256"
INPUTS = ["book", "src/cnnbook", "scripts/assets", "_config.yml", "_toc.yml", "references.bib",
          "package-lock.json", "requirements.txt", "pyproject.toml"]


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts and ".ipynb_checkpoints" not in f.parts:
                digest.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def is_fresh() -> bool:
    index = ROOT / "_build" / "html" / "index.html"
    return index.exists() and STAMP.exists() and STAMP.read_text().strip() == fingerprint()


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "write":
        STAMP.write_text(fingerprint() + "\n")
    elif command == "check":
        sys.exit(0 if is_fresh() else 1)
    else:
        sys.exit(f"usage: {sys.argv[0]} [check|write]")
