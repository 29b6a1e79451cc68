#!/usr/bin/env bash
# Installs Debian's redis-server package (redis-server and redis-cli) when either is missing:
# tests/redis.rs starts its own redis-server on 127.0.0.1 and checks it with redis-cli.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "== installing Redis (Debian package redis-server)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends redis-server
fi
