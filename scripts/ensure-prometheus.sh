#!/usr/bin/env bash
# Installs Debian's prometheus package (prometheus and promtool) when either is missing.
# Sourced or run by the scripts that need them; a fresh machine has neither.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "== installing Prometheus and promtool (Debian package prometheus)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends prometheus
fi
