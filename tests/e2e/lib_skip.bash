# How an e2e script says it did not run (sourced; not a test itself, hence .bash). A skipping
# suite prints one line "SKIP KEY: REASON" and exits 77 (the automake convention); tests/run.sh
# counts it as skipped only when its ALLOWED_SKIPS lists "suite:KEY", and as failed otherwise.
# KEY names what is missing (a program, root, the sanitizer build), REASON says it in words.
[ "${BASH_SOURCE[0]}" = "$0" ] && exit 0

# skip KEY REASON: this suite cannot run here.
skip() {
    echo "SKIP $1: $2"
    [ -z "${DISR_SKIP_FILE:-}" ] || echo "$1: $2" >"$DISR_SKIP_FILE"
    exit 77
}

# skip_part KEY REASON: one part of the suite cannot run here; the rest runs, and skip_report
# (the script's last step) then ends it as a skip, so a suite that left a part out is never
# counted as passed.
SKIPPED_KEYS=()
SKIPPED_WHY=()
skip_part() {
    echo "skipping a part ($1): $2"
    SKIPPED_KEYS+=("$1")
    SKIPPED_WHY+=("$2")
}
skip_report() {
    [ ${#SKIPPED_KEYS[@]} -eq 0 ] && return 0
    local all
    all=$(printf '%s; ' "${SKIPPED_WHY[@]}")
    skip "${SKIPPED_KEYS[0]}" "part skipped: ${all%; }"
}

# fuzz_smoke_wanted: whether this run does a fuzz smoke run. Not in the sanitizer build, by
# design (a harness is its own ASan + UBSan build, run by the normal one); DISR_NO_FUZZ=1 or a
# missing clang leave the part out, which skip_report then reports.
fuzz_smoke_wanted() {
    if [ "${SAN:-0}" = 1 ]; then
        echo "fuzz smoke run: in the normal build's run only"
        return 1
    elif [ "${DISR_NO_FUZZ:-0}" = 1 ]; then
        skip_part fuzz "DISR_NO_FUZZ=1: the fuzz smoke run is off"
        return 1
    elif ! command -v clang >/dev/null; then
        skip_part clang "clang not installed: no fuzz smoke run"
        return 1
    fi
}

# need_peer_packages: node and the npm packages of tests/peer (the peer implementations the
# tokenizer and chat-template suites compare against; scripts/install-deps.sh installs them).
need_peer_packages() {
    command -v node >/dev/null || skip node "node not installed (scripts/install-deps.sh installs it)"
    [ -d tests/peer/node_modules/@lenml/tokenizers ] && [ -d tests/peer/node_modules/@huggingface/jinja ] ||
        skip npm "tests/peer/node_modules missing (scripts/install-deps.sh runs npm ci there)"
}
