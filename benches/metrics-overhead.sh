#!/usr/bin/env bash
# Prices metrics on the gossip ingest hot path: builds the benchmark with metrics and with
# them compiled out, runs the two alternately ROUNDS times on the mainnet-sized dataset, and
# prints the median CPU time of each and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
cargo bench --bench metrics_overhead --no-run -q
cargo bench --bench metrics_overhead --features metrics-off --no-run -q
on=(); off=()
for round in $(seq "$ROUNDS"); do
	on+=("$(cargo bench -q --bench metrics_overhead 2>/dev/null | awk '/^RESULT/ {print $5}')")
	off+=("$(cargo bench -q --bench metrics_overhead --features metrics-off 2>/dev/null | awk '/^RESULT/ {print $6}')")
	echo "round $round: metrics on ${on[-1]} s CPU, compiled out ${off[-1]} s CPU"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_on=$(median "${on[@]}"); m_off=$(median "${off[@]}")
awk -v on="$m_on" -v off="$m_off" 'BEGIN { printf "median CPU: metrics on %.3f s, compiled out %.3f s, overhead %.2f%%\n", on, off, (on / off - 1) * 100 }'
