#!/usr/bin/env bash
# The stateful fuzzer (issue 24 item 3, tests/sip/fuzz_stateful.py) against the running runtime on
# the published samples, its Python stand-ins as the trunks: first every kept regression
# (tests/fuzz/regressions/stateful/*.json, each a crash the fuzzer found) three times, then
# FUZZ_SECONDS (default 25) of random calls from FUZZ_SEED (default: a fresh seed, printed). After
# every batch the runtime must still run and answer OPTIONS over UDP and TCP; at the end a clean 911
# must reach a provider trunk and be answered (the stand-ins answer the BYEs of the calls the
# fuzzer left behind as well). A failing run leaves its batches in FUZZ_OUT (default the current
# directory) as stateful-SEED.json; `FUZZ_SEED=SEED` replays the same messages.
source "$(dirname "$0")/lib.sh" "$@"
FUZZER=$ROOT/tests/sip/fuzz_stateful.py
SECONDS_TO_FUZZ=${FUZZ_SECONDS:-25}
SEED=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
OUT=${FUZZ_OUT:-$PWD}
scale=${E911_TEST_TIME_SCALE:-1}
publish_samples_unpinged || { finish; exit 1; }

serve() { start_serve --snapshot "$E911_DB.snapshot" --domain "$DOMAIN"; }
serve || { finish; exit 1; }

shopt -s nullglob
kept=("$ROOT"/tests/fuzz/regressions/stateful/*.json)
shopt -u nullglob
if [ ${#kept[@]} -gt 0 ]; then
  timeout $((60 * ${#kept[@]} * scale)) python3 "$FUZZER" replay "$SIP_PORT" "$server_pid" 3 "${kept[@]}" ||
    fail "a kept regression (tests/fuzz/regressions/stateful)"
  if ! kill -0 "$server_pid" 2>/dev/null || [ "$(options_status)" != 200 ]; then
    show_serve_log
    stop_serve
    serve || { finish; exit 1; }
  fi
fi

# The fuzzer stops at the end of the batch in play when its time is up (a batch takes a few
# seconds, times E911_TEST_TIME_SCALE), then places a clean 911 that a provider trunk must answer.
timeout $((SECONDS_TO_FUZZ + 60 * scale)) python3 "$FUZZER" run "$SIP_PORT" "$server_pid" "$SECONDS_TO_FUZZ" "$SEED" "$OUT" ||
  fail "fuzz_stateful seed $SEED (FUZZ_SEED=$SEED replays it)"
expect_serving "the fuzzer's seed $SEED"
# Emergency calls the fuzzer left ringing hold a graceful stop (serve(8)); a second signal ends it.
kill "$server_pid" 2>/dev/null
sleep 0.2
stop_serve
finish
