#!/usr/bin/env bash
# disr score on bad input: a malformed JSONL line, an unknown grader, a missing field and a
# missing model each give a clear message (naming the line) and exit 1.
set -eu
DISR=${DISR_BIN:-build/disr}
tmp=$(mktemp -d /tmp/disr_e2e_score.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$DISR" score --help >/dev/null
good='{"id":"a","family":"add","query":"1+2=","answer":"3","grader":"number"}'
expect_fail() { # file, expected text in the message
    local rc=0
    "$DISR" score -m "$tmp/none.gguf" --data "$1" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 1 ] || { echo "rc $rc for $1"; cat "$tmp/err"; exit 1; }
    grep -qF -- "$2" "$tmp/err" || { echo "message lacks '$2':"; cat "$tmp/err"; exit 1; }
}
printf '%s\n%s\n{"id":"b",\n' "$good" "$good" >"$tmp/bad.jsonl"
expect_fail "$tmp/bad.jsonl" "bad.jsonl line 3: bad JSON"
printf '%s\n{"id":"b","family":"f","query":"q","answer":"x","grader":"fuzzy"}\n' "$good" >"$tmp/g.jsonl"
expect_fail "$tmp/g.jsonl" 'g.jsonl line 2: unknown grader "fuzzy"'
printf '{"id":"b","family":"f","answer":"x","grader":"exact"}\n' >"$tmp/m.jsonl"
expect_fail "$tmp/m.jsonl" 'm.jsonl line 1: missing field "query"'
printf '%s\n' "$good" >"$tmp/ok.jsonl"
expect_fail "$tmp/ok.jsonl" "none.gguf"
rc=0; "$DISR" score --data "$tmp/ok.jsonl" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || { echo "missing -m: rc $rc"; exit 1; }
echo "score e2e ok"
