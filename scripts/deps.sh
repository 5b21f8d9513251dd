#!/usr/bin/env bash
# deps.sh — install the Debian packages baton needs to build, test and run
# its demo, when any is missing. Idempotent; needs root (or sudo).
set -euo pipefail

packages=(
  # build
  gcc g++ make cmake pkg-config
  # client libraries
  libhiredis-dev libcurl4-openssl-dev libcjson-dev libzookeeper-mt-dev libpq-dev
  # baton run --metrics-listen's HTTP server
  libmicrohttpd-dev
  # servers the tests and the demo start (ZooKeeper runs on Java)
  redis-server etcd-server etcd-client zookeeper default-jre-headless
  postgresql pgbouncer
  # interoperability tests against the peers' own clients
  python3 python3-kazoo python3-redis
  # fuzzing and TLS test certificates
  clang libclang-rt-14-dev openssl
  # the man page's test renders it and reads it installed
  groff-base man-db
  # promtool lints the Prometheus text (unit_stats)
  prometheus
  # systemd-notify: the child of the notify-protocol tests of `baton run`
  systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
