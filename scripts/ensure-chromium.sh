#!/usr/bin/env bash
# Installs Debian's chromium package when it is missing (the browser test of the HTML report
# drives it headless through playwright-core, which downloads no browser of its own).
# Sourced or run by the scripts that need it; a fresh machine has none.
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium (Debian package chromium)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium
fi
