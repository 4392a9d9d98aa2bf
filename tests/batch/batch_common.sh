# Shared by the recipe tests: a generated corpus, its reference run, and the
# comparison of an output tree and its journal with the reference.
# Usage: . batch_common.sh DOCVL MKCORPUS

docvl=$1
mkcorpus=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/docvl-recipe-XXXXXX")
cleanup_hooks=()
cleanup() {
    for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
    # daemons this shell started (slurmctld) still write their state as they
    # stop: removing the tree under them failed now and then ("Directory not
    # empty"), so wait up to 10 s for them, then remove it (twice at most)
    local t=0
    while [ -n "$(jobs -pr)" ] && [ $t -lt 50 ]; do sleep 0.2; t=$((t + 1)); done
    rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work"; }
}
trap cleanup EXIT

# docvl batch exits 5 when some documents failed (the corpus has malformed ones)
batch_ok() {
    "$@" || [ $? -eq 5 ]
}

# A joblog (GNU parallel's, or one written like it) whose jobs all exited 0
# or 5; parallel's own status counts the 5s as failures.
jobs_ok() {
    # ${2:-0} jobs expected in the joblog (0: any number).
    if awk -v want="${2:-0}" 'NR > 1 && $7 != 0 && $7 != 5 { bad = 1; print "FAIL: job", $1, "exited", $7, "signal", $8 }
            END { if (want > 0 && NR - 1 != want) { bad = 1; print "FAIL:", NR - 1, "jobs in the joblog, not", want }
                  exit bad }' "$1" >&2; then
        return 0
    fi
    exit 1
}

make_reference() {
    "$mkcorpus" "$work/corpus" "${1:-120}"
    batch_ok "$docvl" batch -q --text-layer only -o "$work/ref" "$work/corpus"
}

# key, status and pages of each journal line, sorted
journal_summary() {
    sed -E 's/^\{"key":"([^"]*)".*"status":"([a-z]+)".*"pages":([0-9]+),.*/\1 \2 \3/' \
        "$1/docvl-batch.jsonl" | sort
}

same_as_reference() {
    local dir=$1 what=$2
    if ! diff -r -x docvl-batch.jsonl -x .docvl-locks "$work/ref" "$dir" >"$work/diff" 2>&1; then
        echo "FAIL: $what: outputs differ from one process's:" >&2
        head -20 "$work/diff" >&2
        exit 1
    fi
    if ! diff <(journal_summary "$work/ref") <(journal_summary "$dir") >"$work/diff"; then
        echo "FAIL: $what: journal differs from one process's:" >&2
        head -20 "$work/diff" >&2
        exit 1
    fi
    local n
    n=$(wc -l <"$dir/docvl-batch.jsonl")
    if [ "$n" -ne "$(wc -l <"$work/ref/docvl-batch.jsonl")" ]; then
        echo "FAIL: $what: $n journal lines (a document read twice?)" >&2
        exit 1
    fi
    echo "ok: $what: same outputs and journal as one process ($n documents)"
}
