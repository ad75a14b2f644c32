#!/usr/bin/env bash
# Long runs of the crash-consistency harness (tests/e2e/crash.rs): loops the `crash::` tests of
# the e2e binary, each round with a fresh seed, and prints the iterations, acknowledged writes
# and losses per flow after every round and at the end.
#
#   tests/crash-soak.sh [SECONDS]        # default 3600; stops after the round that passes it
#
# Environment: HERALD_CRASH_ITERATIONS (iterations per flow per round, default 10),
# CARGO_TARGET_DIR (as for cargo), CRASH_SOAK_FILTER (test filter, default `crash::`),
# CRASH_SOAK_LOG (where every round's output goes, default /tmp/crash-soak.log).
# A loss is printed by the harness as `crash-loss flow=… seed=…` with the seed that reproduces
# it: HERALD_CRASH_SEED=<seed> HERALD_CRASH_ITERATIONS=<n> cargo test --test e2e crash::<flow test>.
# Exits 1 if any round lost anything (or failed otherwise).
set -euo pipefail

duration=${1:-3600}
iterations=${HERALD_CRASH_ITERATIONS:-10}
filter=${CRASH_SOAK_FILTER:-crash::}
log=${CRASH_SOAK_LOG:-/tmp/crash-soak.log}
cd "$(dirname "$0")/.."

cargo test --test e2e --no-run >/dev/null 2>&1 || cargo test --test e2e --no-run

declare -A iters acked kept losses
failures=0
round=0
started=$(date +%s)
: >"$log"

summary() {
	printf '%-16s %10s %12s %14s %8s\n' flow iterations acknowledged in_flight_kept losses
	for flow in $(printf '%s\n' "${!iters[@]}" "${!losses[@]}" | sort -u); do
		printf '%-16s %10s %12s %14s %8s\n' "$flow" "${iters[$flow]:-0}" "${acked[$flow]:-0}" \
			"${kept[$flow]:-0}" "${losses[$flow]:-0}"
	done
	echo "rounds: $round, failed rounds: $failures, elapsed: $(($(date +%s) - started)) s"
}

while (($(date +%s) - started < duration)); do
	round=$((round + 1))
	seed=$(( $(date +%s%N) % 1000000000000 ))
	echo "== round $round seed $seed" | tee -a "$log"
	out=$(HERALD_CRASH_SEED=$seed HERALD_CRASH_ITERATIONS=$iterations \
		cargo test --test e2e "$filter" -- --test-threads=1 --nocapture 2>&1) && status=0 || status=$?
	printf '%s\n' "$out" >>"$log"
	while read -r line; do
		flow=$(sed -n 's/.*flow=\([a-z_]*\).*/\1/p' <<<"$line")
		field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
		iters[$flow]=$(( ${iters[$flow]:-0} + $(field iterations) ))
		acked[$flow]=$(( ${acked[$flow]:-0} + $(field acknowledged) ))
		kept[$flow]=$(( ${kept[$flow]:-0} + $(field in_flight_kept) ))
	done < <(grep '^crash-report ' <<<"$out" || true)
	while read -r line; do
		flow=$(sed -n 's/.*flow=\([a-z_]*\).*/\1/p' <<<"$line")
		losses[$flow]=$(( ${losses[$flow]:-0} + 1 ))
		echo "LOSS: $line"
	done < <(grep '^crash-loss ' <<<"$out" || true)
	if ((status != 0)); then
		failures=$((failures + 1))
		echo "round $round failed (exit $status); output in $log"
	fi
	summary
done
((failures == 0))
