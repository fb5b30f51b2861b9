#!/usr/bin/env bash
# CPU per HTTP/1.1 request with an access log (`option httplog` to a UDP
# syslog on loopback that reads and drops every line), gwd against
# HAProxy 2.6 in one run: ci/cpu-split.sh with --log.
#
#   ci/bench-logging.sh [--rounds N] [--duration SECS] GWD_BIN...
set -euo pipefail
exec bash "$(dirname "$0")/cpu-split.sh" --log "$@"
