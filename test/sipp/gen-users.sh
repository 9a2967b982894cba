#!/usr/bin/env bash
# SIPp injection file for reg-digest.xml / unregister.xml: N users of one realm.
#   ./gen-users.sh [N] [DOMAIN] > users.csv      defaults: 10000 sip.test
# Users user00000..user(N-1) with password pw<same digits>, the contract of ../../../shared/bench
# (gen-users.sh there); provision the same devices through the API before a run.
set -euo pipefail
N=${1:-10000}; DOMAIN=${2:-sip.test}
echo SEQUENTIAL
awk -v n="$N" -v d="$DOMAIN" 'BEGIN { for (i = 0; i < n; i++) {
  u = sprintf("user%05d", i); p = sprintf("pw%05d", i)
  print u ";[authentication username=" u " password=" p "];" d } }'
