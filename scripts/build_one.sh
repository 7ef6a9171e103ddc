#!/usr/bin/env bash
# For authors: build one chapter as the book would, without building the book.
#   bash scripts/build_one.sh softmax        -> /tmp/cnnbook-one-softmax/_build/html/book/softmax.html
# The chapter (and the appendices, unexecuted) go to a scratch copy; only this chapter is executed
# (inline, as in the real build, so {eval} numbers are filled in). Warnings about this chapter are
# printed and make the script exit 1; links to other chapters are expected to warn and are not
# counted. The full strict build is still `bash scripts/build.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:?usage: build_one.sh CHAPTER (a notebook name under book/, without .ipynb)}"
[ -f "book/$name.ipynb" ] || { echo "no book/$name.ipynb" >&2; exit 2; }

out="/tmp/cnnbook-one-$name"
rm -rf "$out"
mkdir -p "$out/book"
cp _config.yml "$out/"
cp -r _vendor "$out/" 2>/dev/null || { .venv/bin/python scripts/vendor_assets.py >/dev/null && cp -r _vendor "$out/"; }
cp book/*.md "$out/book/"
[ -f references.bib ] && cp references.bib "$out/"
cp "book/$name.ipynb" "$out/book/"
cat > "$out/_toc.yml" <<EOF
format: jb-book
root: book/intro
chapters:
  - file: book/$name
  - file: book/references
EOF
cd "$out"
set +e
"$OLDPWD/.venv/bin/jupyter-book" build . -n --keep-going > build.log 2>&1
set -e
grep -E "WARNING|ERROR" build.log | grep -F "$name" | grep -v -E "unknown document|cross-reference target not found: '[a-z_]+\.ipynb(#[a-z0-9-]+)?'|toctree|myst.xref_missing.*\.ipynb" > warnings.log || true
if [ -s warnings.log ]; then
    cat warnings.log
    echo "build_one: $(wc -l < warnings.log) warning(s) about book/$name.ipynb (full log: $out/build.log)"
    exit 1
fi
echo "build_one: no warnings about book/$name.ipynb; open $out/_build/html/book/$name.html"
