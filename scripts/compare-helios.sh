#!/bin/sh
# The peer comparison of issue #27, outside CI: the same Synthea load and
# the same searches against this server and Helios 0.2.7 (a Rust FHIR
# server, SQLite backend), both on fresh SQLite files, printing the
# figures of each and the ratios.
#
#   scripts/compare-helios.sh [PATIENTS]     (default 20; 120 = all)
#
# - Helios is built once from crates.io into $HELIOS_HOME (default
#   ~/.cache/helios; its build directory beside it), never into the repo:
#   about 25 minutes of two cores. HELIOS_JOBS (default 1) and nice keep the
#   machine usable meanwhile.
# - Helios needs the R4 SearchParameter Bundle (search-parameters-r4.json)
#   and the CompartmentDefinition Bundle (compartment-definitions-r4.json)
#   in its --data-dir; both are made here from the R4 core package
#   (FHIR_R4_CORE_TGZ, default ../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz
#   beside the workspace) with jq.
# - The load is `ingest_bench --url` with one uploader (the two batch
#   Bundles, then the patient transactions, each checked per type after);
#   the searches are `search_bench --url … --peer …`, whose `count x` and
#   `all x` columns are Helios's time over ours (above 1: we are faster).
# Needs cargo, jq and curl. Both servers run on loopback ports and are
# stopped (by their process ids) when the script ends.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
patients=${1:-20}
helios_home=${HELIOS_HOME:-$HOME/.cache/helios}
core_tgz=${FHIR_R4_CORE_TGZ:-$repo/../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz}
ours_port=${OURS_PORT:-18080}
helios_port=${HELIOS_PORT:-18081}

for tool in cargo jq curl; do
    command -v "$tool" >/dev/null || { echo "compare-helios: $tool is needed" >&2; exit 2; }
done
[ -f "$core_tgz" ] || { echo "compare-helios: $core_tgz is missing (FHIR_R4_CORE_TGZ)" >&2; exit 2; }

hfs=$helios_home/bin/hfs
if [ ! -x "$hfs" ]; then
    echo "building Helios 0.2.7 into $helios_home (about 25 minutes)…"
    CARGO_TARGET_DIR=$helios_home-target nice -n 19 cargo install helios-hfs \
        --version 0.2.7 --locked --no-default-features --features R4,sqlite \
        --root "$helios_home" -j "${HELIOS_JOBS:-1}"
fi

echo "building this server and the benchmarks (release)…"
cargo build --release -q -p fhir-server
cargo build --release -q -p conformance-tests --bin ingest_bench --bin search_bench
target=${CARGO_TARGET_DIR:-$repo/target}/release

work=$(mktemp -d)
ours_pid=
helios_pid=
stop() {
    [ -n "$ours_pid" ] && kill "$ours_pid" 2>/dev/null || true
    [ -n "$helios_pid" ] && kill "$helios_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT INT TERM

# Helios's data directory: the definitions as Bundles.
data=$work/helios-data
mkdir -p "$data" "$work/core"
tar xzf "$core_tgz" -C "$work/core"
bundle() {
    jq -s '{resourceType: "Bundle", type: "collection", entry: map({resource: .})}' "$@"
}
bundle "$work"/core/package/SearchParameter-*.json >"$data/search-parameters-r4.json"
bundle "$work"/core/package/CompartmentDefinition-*.json >"$data/compartment-definitions-r4.json"
echo "Helios data: $(jq '.entry | length' "$data/search-parameters-r4.json") SearchParameters, \
$(jq '.entry | length' "$data/compartment-definitions-r4.json") CompartmentDefinitions"

"$target/fhir-server" serve --listen "127.0.0.1:$ours_port" \
    --database "sqlite:$work/ours.db" >"$work/ours.log" 2>&1 &
ours_pid=$!
"$hfs" --port "$helios_port" --host 127.0.0.1 --base-url "http://127.0.0.1:$helios_port" \
    --database-url "$work/helios.db" --data-dir "$data" --log-level warn \
    >"$work/helios.log" 2>&1 &
helios_pid=$!
ours=http://127.0.0.1:$ours_port/fhir
helios=http://127.0.0.1:$helios_port

wait_up() {
    for _ in $(seq 1 120); do
        curl -sf -o /dev/null -H 'Accept: application/fhir+json' "$1/metadata" && return 0
        sleep 1
    done
    echo "compare-helios: $1 did not answer; its log:" >&2
    cat "$2" >&2
    exit 1
}
wait_up "$ours" "$work/ours.log"
wait_up "$helios" "$work/helios.log"

rate() { awk '$1 == "url" && $2 == "http" { r = $6 } END { print r }' "$1"; }
echo
echo "== load: $patients patient Bundles over HTTP, 1 client =="
"$target/ingest_bench" --url "$ours" --pid "$ours_pid" --uploaders 1 --patients "$patients" \
    | tee "$work/ours-load.txt" || echo "(this server's load failed its checks)"
"$target/ingest_bench" --url "$helios" --pid "$helios_pid" --uploaders 1 --patients "$patients" \
    | tee "$work/helios-load.txt" || echo "(Helios's load failed its checks)"
ours_rate=$(rate "$work/ours-load.txt")
helios_rate=$(rate "$work/helios-load.txt")
echo "ingest resources/s: this server ${ours_rate:-?}, Helios ${helios_rate:-?}, \
ratio $(awk -v a="${ours_rate:-0}" -v b="${helios_rate:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
echo "database size: this server $(du -sh "$work"/ours.db* | awk '{ s = s " " $1 } END { print s }'), \
Helios $(du -sh "$work"/helios.db* | awk '{ s = s " " $1 } END { print s }')"

echo
echo "== searches: left this server, right Helios =="
"$target/search_bench" --url "$ours" --peer "$helios"
