"""Vendor the browser assets of the HTML book into ``_vendor/`` (served as ``_static/``).

The built book loads nothing from another host. MathJax 3, RequireJS and the ipywidgets 8 HTML
manager are pinned in ``package.json`` / ``package-lock.json``, fetched from the npm registry
with ``npm ci`` (only when ``node_modules/`` is missing or does not match the lock file) and
copied, a small subset of each, into ``_vendor/``, which ``_config.yml`` lists in
``html_static_path``. Both folders are git-ignored. The layout inside ``_vendor/`` (the paths in
``_config.yml`` and ``scripts/assets/widgets-setup.js`` depend on it)::

    widgets-setup.js                       RequireJS paths + MathJax.Hub shim (from scripts/assets)
    mathjax/tex-mml-chtml.js               MathJax 3 combined component
    mathjax/input/tex/extensions/*.js      TeX packages MathJax autoloads (\\boldsymbol, \\cancel, ...)
    mathjax/output/chtml/fonts/woff-v2/    the CHTML fonts
    requirejs/require.js
    jupyter-widgets/html-manager/embed-amd.js  + the Font Awesome files it references

Usage: ``python scripts/vendor_assets.py [--force]`` (``--force`` re-runs ``npm ci``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
DEST = ROOT / "_vendor"

# (source relative to node_modules, destination relative to _vendor, glob or None for a file)
COPIES: list[tuple[str, str, str | None]] = [
    ("mathjax/es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js", None),
    ("mathjax/es5/input/tex/extensions", "mathjax/input/tex/extensions", "*.js"),
    ("mathjax/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2", "*.woff"),
    ("mathjax/LICENSE", "mathjax/LICENSE", None),
    ("requirejs/require.js", "requirejs/require.js", None),
    (
        "@jupyter-widgets/html-manager/dist/embed-amd.js",
        "jupyter-widgets/html-manager/embed-amd.js",
        None,
    ),
    # Font Awesome 5 (icons on buttons etc.), referenced by hashed name from embed-amd.js. Every
    # browser that runs embed-amd.js picks the woff2 (or woff) source; eot/ttf/svg are skipped.
    ("@jupyter-widgets/html-manager/dist", "jupyter-widgets/html-manager", "*.woff2"),
    ("@jupyter-widgets/html-manager/dist", "jupyter-widgets/html-manager", "*.woff"),
    (
        "@jupyter-widgets/html-manager/dist/embed.js.LICENSE.txt",
        "jupyter-widgets/html-manager/LICENSE.txt",
        None,
    ),
]
LOCAL_ASSETS = [(ROOT / "scripts" / "assets" / "widgets-setup.js", "widgets-setup.js")]


def node_modules_is_current() -> bool:
    """True when node_modules/ holds exactly the versions pinned in package-lock.json."""
    installed = NODE_MODULES / ".package-lock.json"  # written by npm on install
    if not installed.is_file():
        return False
    wanted = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    have = json.loads(installed.read_text())["packages"]
    for key, meta in wanted.items():
        if not key:  # the root project itself
            continue
        if have.get(key, {}).get("version") != meta.get("version"):
            return False
        if not (ROOT / key).is_dir():
            return False
    return True


def npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_assets: npm not found (install Node.js/npm, e.g. apt-get install npm)")
    print("vendor_assets: npm ci (node_modules missing or stale)", flush=True)
    # --ignore-scripts: only files are copied out of these packages; no install script is needed.
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=ROOT, check=True
    )


def copy_assets() -> int:
    if DEST.exists():
        shutil.rmtree(DEST)
    count = 0
    for src_rel, dest_rel, pattern in COPIES:
        src = NODE_MODULES / src_rel
        dest = DEST / dest_rel
        if pattern is None:
            if not src.is_file():
                sys.exit(f"vendor_assets: missing {src}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            count += 1
            continue
        files = sorted(src.glob(pattern))
        if not files:
            sys.exit(f"vendor_assets: nothing matches {src}/{pattern}")
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, dest / f.name)
            count += 1
    for src, dest_rel in LOCAL_ASSETS:
        shutil.copy2(src, DEST / dest_rel)
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-run npm ci even if current")
    args = parser.parse_args()
    if args.force or not node_modules_is_current():
        npm_ci()
        if not node_modules_is_current():
            sys.exit("vendor_assets: node_modules does not match package-lock.json after npm ci")
    count = copy_assets()
    size = sum(f.stat().st_size for f in DEST.rglob("*") if f.is_file())
    print(f"vendor_assets: {count} files ({size / 1e6:.1f} MB) in {DEST.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
