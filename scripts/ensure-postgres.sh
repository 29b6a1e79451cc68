#!/usr/bin/env bash
# Installs Debian's postgresql package (initdb, pg_ctl, psql) when it is missing:
# tests/postgres.rs initialises and starts its own cluster on 127.0.0.1 in a temporary
# directory (as the `postgres` user the package creates, when the tests run as root).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! id postgres >/dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian package postgresql)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends postgresql
fi
