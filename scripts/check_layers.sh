#!/usr/bin/env bash
# Checks the include graph against the layer order of src/LAYERS: every `#include "x/y.h"` (or
# <x/y.h> naming a file of the tree) in src/ and include/ must point to the including file's own
# layer or to one listed before it. A quoted name is looked up as the compiler does (beside the
# including file, then src/ and include/, the -I paths); system headers are not ours and pass.
# Fails, naming file, line and both layers, on an upward include, on a file in a folder that
# src/LAYERS does not list, and on a quoted include that names no file of the tree.
# Usage: scripts/check_layers.sh [ROOT]   (ROOT: the tree to check, default this repository)
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$ROOT"
[ -f src/LAYERS ] || { echo "check_layers: $ROOT/src/LAYERS is missing" >&2; exit 2; }
mapfile -t LAYERS < <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' src/LAYERS)
declare -A RANK
for i in "${!LAYERS[@]}"; do RANK[${LAYERS[$i]}]=$i; done
ORDER="${LAYERS[*]}"

# layer_of PATH (relative to ROOT) sets L: include/... -> include, src/DIR/... -> DIR, else ""
layer_of() {
    case $1 in
    include/*) L=include ;;
    src/*/*) L=${1#src/} L=${L%%/*} ;;
    *) L="" ;;
    esac
}

bad=0
mapfile -d '' -t FILES < <(find src include \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
declare -A FROM # file -> its layer
for f in "${FILES[@]}"; do
    layer_of "$f"
    if [ -z "$L" ] || [ -z "${RANK[$L]+x}" ]; then
        echo "$f: folder '${L:-${f%/*}}' is not a layer of src/LAYERS ($ORDER)"
        bad=1
    else
        FROM[$f]=$L
    fi
done

n_incl=0
while IFS=$'\t' read -r f line kind name; do
    from=${FROM[$f]-}
    [ -n "$from" ] || continue # reported above
    n_incl=$((n_incl + 1))
    target=""
    if [ "$kind" = q ] && [ -f "${f%/*}/$name" ]; then target="${f%/*}/$name"
    elif [ -f "src/$name" ]; then target="src/$name"
    elif [ -f "include/$name" ]; then target="include/$name"
    fi
    if [ -z "$target" ]; then
        # <...> of a name the tree does not hold is a system header
        [ "$kind" = a ] && continue
        echo "$f:$line: includes \"$name\", which is no file of src/ or include/"
        bad=1
        continue
    fi
    case $target in *..* | */./*) target=$(realpath -m --relative-to=. "$target") ;; esac
    layer_of "$target"
    to=$L
    if [ -z "$to" ] || [ -z "${RANK[$to]+x}" ]; then
        echo "$f:$line: includes $target, in '${to:-${target%/*}}', not a layer of src/LAYERS"
        bad=1
    elif [ "${RANK[$to]}" -gt "${RANK[$from]}" ]; then
        echo "$f:$line: upward include: $from includes $name of layer $to, above $from"
        bad=1
    fi
done < <(awk '
    match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/) {
        s = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", s); sub(/"$/, "", s)
        print FILENAME "\t" FNR "\tq\t" s; next
    }
    match($0, /^[ \t]*#[ \t]*include[ \t]*<[^>]+>/) {
        s = substr($0, RSTART, RLENGTH); sub(/^[^<]*</, "", s); sub(/>$/, "", s)
        print FILENAME "\t" FNR "\ta\t" s
    }' "${FILES[@]}")

if [ "$bad" -ne 0 ]; then
    echo "check_layers: FAILED (src/LAYERS, bottom first: $ORDER)"
    exit 1
fi
echo "check_layers: ${#FILES[@]} files, $n_incl includes, none points up ($ORDER)"
