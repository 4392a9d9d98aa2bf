#!/usr/bin/env bash
# The GNU parallel recipes of docs/batch.md, run as written there: shards on
# one machine, and shards over --sshloginfile (two "machines" reached
# through a stand-in for ssh that runs the command here, as ssh would there
# with the directories shared). Each gives the outputs and the journal of a
# single process.
set -euo pipefail
. "$(dirname "$0")/batch_common.sh"

if ! command -v parallel >/dev/null; then
    echo "SKIP: GNU parallel is not installed (DOCVL_DEPS_CI=1 scripts/deps installs it)"
    exit 77
fi
make_reference 120

# Recipe: one machine, 4 shards, 2 at a time.
parallel --will-cite --halt never --joblog "$work/log1" -j2 \
    "$docvl" batch -q --text-layer only -o "$work/one" --shard {}/4 "$work/corpus" ::: 1 2 3 4 || true
jobs_ok "$work/log1" 4
same_as_reference "$work/one" "parallel, one machine, 4 shards"

# Recipe: several machines from an --sshloginfile.
cat >"$work/fakessh" <<'SSH'
#!/bin/sh
# ssh [OPTION]... HOST COMMAND: runs COMMAND here, as ssh runs it on HOST
while [ $# -gt 0 ]; do
    case $1 in
    -l|-p|-o|-i|-F) shift 2 ;;
    -*) shift ;;
    *) break ;;
    esac
done
echo "$1" >>"$(dirname "$0")/hosts-used"
shift
# sshd gives the remote command the login shell in SHELL, and parallel's
# remote wrapper runs the job with it: without it (a CI runner's bare
# environment) the job silently does nothing.
export SHELL="${SHELL:-/bin/sh}"
[ "${1:-}" = -- ] && shift
exec sh -c "$*"
SSH
chmod +x "$work/fakessh"
printf '2/node-a\n2/node-b\n' >"$work/nodes"
parallel --will-cite --halt never --joblog "$work/log2" --ssh "$work/fakessh" \
    --sshloginfile "$work/nodes" \
    "$docvl" batch -q --text-layer only -o "$work/many" --shard {}/4 "$work/corpus" ::: 1 2 3 4 \
    || true
jobs_ok "$work/log2" 4
same_as_reference "$work/many" "parallel --sshloginfile, 2 machines, 4 shards"
hosts=$(sort -u "$work/hosts-used" | grep -c node- || true)
if [ "$hosts" -ne 2 ]; then
    echo "FAIL: the shards ran on $hosts machines, not 2" >&2
    exit 1
fi
echo "ok: both machines ran shards"
