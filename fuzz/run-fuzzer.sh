#!/usr/bin/env bash
# Runs one libFuzzer target for SLUICE_FUZZ_SECONDS (default 30) on a working
# copy of its committed seed corpus. Crashes and slow inputs are saved next to
# the working corpus and make the run fail.
# Usage: run-fuzzer.sh <fuzzer binary> <seed corpus dir> <work dir> [dict]
set -euo pipefail
bin=$1; seeds=$2; work=$3; dict=${4:-}
rm -rf "$work"; mkdir -p "$work/corpus" "$work/artifacts"
# Inputs up to a full 64 KiB datagram, each within a time limit: a parser
# that is slower than linear on some input is a finding, as a crash is
# (the limit is generous for linear work on 64 KiB under ASan+UBSan).
args=(-max_total_time="${SLUICE_FUZZ_SECONDS:-30}" -max_len=65536 -timeout="${SLUICE_FUZZ_INPUT_SECONDS:-2}"
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/")
[ -n "$dict" ] && args+=(-dict="$dict")
"$bin" "${args[@]}" "$work/corpus" "$seeds"
