#!/bin/sh
# The gateway flow of docs/gateways.md on this machine, with no internet: herald as a process,
# an LDK wallet and an LDK payer over BOLT 8 on loopback, Knot and Unbound as the DNS hierarchy.
# It is the test tests/e2e/gateway_flow.rs, run with its narration shown: once straight through,
# once with herald SIGKILLed after every step. Needs Debian's knot, unbound and bind9-dnsutils
# (without them the DNS steps are skipped and say so).
set -eu
cd "$(dirname "$0")/.."
exec cargo test -p herald --test e2e gateway_flow -- --nocapture --test-threads 1
