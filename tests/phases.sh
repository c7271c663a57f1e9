#!/usr/bin/env bash
# `make test`, phase by phase: each timed, and the table of phases printed at the end, whether a phase failed or not
# (issue 33: a suite that grows must show where its minutes go).
set -uo pipefail
MAKE_=${MAKE:-make}
names=()
secs=()

table() {
    printf '\n%-12s %8s\n' "phase" "seconds"
    for i in "${!names[@]}"; do printf '%-12s %8s\n' "${names[$i]}" "${secs[$i]}"; done
}

phase() {
    local name=$1 start rc
    shift
    start=$(date +%s)
    "$@"
    rc=$?
    names+=("$name")
    secs+=("$(($(date +%s) - start))")
    if [ "$rc" -ne 0 ]; then
        table
        echo "phase '$name' failed (exit $rc)"
        exit "$rc"
    fi
}

phase lint "$MAKE_" --no-print-directory lint
phase unit "$MAKE_" --no-print-directory unit
phase "lab up" "$MAKE_" --no-print-directory lab seed
phase concurrent "$MAKE_" --no-print-directory integration-parallel
phase serial "$MAKE_" --no-print-directory integration-serial
table
