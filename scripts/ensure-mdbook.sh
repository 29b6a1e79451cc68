#!/usr/bin/env bash
# Installs mdBook when missing (the manual in docs/ is an mdBook) and prints the mdbook to run.
# A fresh machine compiles it once with cargo (a few minutes on 2 cores); later runs find it in
# cargo's bin directory (~/.cargo/bin, or $CARGO_INSTALL_ROOT/bin) even when that is not on
# PATH. MDBOOK=/path/to/mdbook uses that binary instead. Progress goes to stderr.
# Usage: "$(scripts/ensure-mdbook.sh)" build docs
set -euo pipefail
# Pinned: the version docs/book.toml is built and checked with. --no-default-features leaves
# out `serve`, `watch` and the search index, which a CI build does not need.
MDBOOK_VERSION=0.5.4
if [ -n "${MDBOOK:-}" ]; then
  echo "$MDBOOK"
  exit 0
fi
if command -v mdbook >/dev/null 2>&1; then
  command -v mdbook
  exit 0
fi
bin="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
if [ ! -x "$bin/mdbook" ]; then
  echo "== installing mdbook $MDBOOK_VERSION (cargo install, once)" >&2
  # Its own build directory, removed afterwards, so a CARGO_TARGET_DIR shared with the project
  # is not touched.
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  CARGO_TARGET_DIR="$build" cargo install mdbook --locked --no-default-features \
    --version "$MDBOOK_VERSION" >&2
fi
echo "$bin/mdbook"
