#!/usr/bin/env bash
# Prices metrics on the two hottest paths, gossip ingest and onion relay. Each benchmark is
# built with metrics and with them compiled out (`--features metrics-off`); the two builds run
# alternately ROUNDS times. Whole-process CPU time on a shared VM drifts by ±20% between runs,
# more than metrics could cost, so each run also measures LDK doing the same work without
# herald (no herald metrics in it) and the comparison is of herald's ratio to LDK:
# - ingest: the mainnet-sized dataset, herald's full path CPU / LDK `P2PGossipSync` CPU;
# - relay: herald's `OnionRelay` µs per message / LDK `OnionMessenger` alone.
# Prints every round and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
cargo bench --bench metrics_overhead --no-run -q
cargo bench --bench metrics_overhead --features metrics-off --no-run -q
cargo bench --bench onion --no-run -q
cargo bench --bench onion --features metrics-off --no-run -q

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Runs a measure (a function printing one ratio) ROUNDS times per build, alternating builds.
alternate() { # measure, name
	local on=() off=()
	for _ in $(seq "$ROUNDS"); do
		on+=("$($1)")
		off+=("$($1 --features metrics-off)")
	done
	report "$2" "$(median "${on[@]}")" "$(median "${off[@]}")"
}
report() { # name, median on, median off
	awk -v name="$1" -v on="$2" -v off="$3" 'BEGIN { printf "%s: median ratio to LDK with metrics %.4f, compiled out %.4f: metrics cost %+.2f%% of herald'"'"'s time\n", name, on, off, (on / off - 1) * 100 }'
}

ingest_ratio() { cargo bench -q --bench metrics_overhead "$@" 2>/dev/null | awk '/^RESULT/ {print; print | "cat >&2"}' | sed -E 's/.*ratio ([0-9.]+).*/\1/'; }

alternate ingest_ratio "gossip ingest"

# The onion relay: the ratio column of herald's OnionRelay row in the throughput table.
relay_ratio() {
	cargo bench -q --bench onion "$@" -- throughput 2>/dev/null |
		awk -F'|' '/OnionMessenger::handle_onion_message/ {ldk = $3} /herald `OnionRelay` \(limits admit everything\)/ {print "relay: LDK " ldk "µs, herald " $3 "µs, ratio " $5 | "cat >&2"; gsub(/ /, "", $5); print $5}'
}
alternate relay_ratio "onion relay"

# Where the time goes, which the ratios above cannot resolve below ±10%: the share of CPU
# samples (perf, software clock) inside metrics code — prometheus and herald_metrics symbols;
# the relaxed atomic adds inlined into callers are single instructions and not counted.
if command -v perf >/dev/null; then
	for bench in metrics_overhead onion; do
		exe=$(cargo bench --bench "$bench" --no-run 2>&1 | grep -o "target/release/deps/$bench-[0-9a-f]*")
		perf record -q -e cpu-clock -F 999 -o "/tmp/herald-perf-$bench.data" "./$exe" --bench >/dev/null 2>&1
		perf report -i "/tmp/herald-perf-$bench.data" --no-children --sort symbol --stdio 2>/dev/null |
			awk -v bench="$bench" '/^ +[0-9.]+%/ { total += $1; if ($0 ~ /prometheus::|herald_metrics::/) m += $1 }
				END { printf "%s: %.2f%% of CPU samples in metrics code\n", bench, m }'
	done
fi
