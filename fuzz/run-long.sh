#!/usr/bin/env bash
# Long fuzz runs, one target after another, each until it has used CPU_SECONDS of CPU time
# (default 1800: the 30 minutes fuzz/README.md records). Counting CPU time rather than wall time
# lets the run be paused for benchmarks: while the file $PAUSE_FILE exists (default
# /tmp/fuzz.pause) the running fuzzer is stopped (SIGSTOP) and resumed when it is removed.
# libFuzzer reports a paused input as a slow unit; such reports are pauses, not findings (run the
# input again to see). Builds with cargo-fuzz's defaults (AddressSanitizer).
#   fuzz/run-long.sh <target>...      (no target: every target)
# Logs: $LOG_DIR/<target>.log (default /tmp/fuzz-long); findings in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
limit="${CPU_SECONDS:-1800}"
pause="${PAUSE_FILE:-/tmp/fuzz.pause}"
logs="${LOG_DIR:-/tmp/fuzz-long}"
mkdir -p "$logs"
export TSS2_LOG=all+none
cargo +nightly fuzz build
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets < <(cargo +nightly fuzz list)
tick=$(getconf CLK_TCK)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  "target/x86_64-unknown-linux-gnu/release/$t" -artifact_prefix="artifacts/$t/" \
    -print_final_stats=1 "${dirs[@]}" >"$logs/$t.log" 2>&1 &
  pid=$!
  stopped=0
  cpu=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ -e "$pause" ] && [ $stopped = 0 ]; then kill -STOP "$pid"; stopped=1; fi
    if [ ! -e "$pause" ] && [ $stopped = 1 ]; then kill -CONT "$pid"; stopped=0; fi
    read -r -a stat <"/proc/$pid/stat" 2>/dev/null || break
    # Fields 14 and 15: user and system time of the process, in clock ticks.
    cpu=$(((stat[13] + stat[14]) / tick))
    if [ "$cpu" -ge "$limit" ]; then kill -INT "$pid"; break; fi
    sleep 5
  done
  rc=0
  wait "$pid" || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
  # 72: libFuzzer's exit code when interrupted (the CPU budget was reached).
  if [ "$rc" = 72 ] || [ "$rc" = 0 ]; then
    echo "fuzz-long: $t: ${cpu} s of CPU, ${runs:-?} runs, no finding"
  else
    echo "fuzz-long: $t: stopped with $rc after ${cpu} s of CPU; see $logs/$t.log and artifacts/$t/"
  fi
done
