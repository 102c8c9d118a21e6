#!/usr/bin/env bash
# Fetches the test data the conformance tests and the benchmark read, into a
# cache OUTSIDE the repository so that a fresh clone stays small and repeated
# runs do not download again.
#
#   FHIR_TEST_CACHE   where to keep it (default: $HOME/.cache/fhir-server-tests)
#
# Contents after a run:
#   $FHIR_TEST_CACHE/hl7.fhir.r4.examples-4.0.1.tgz   the 5,307 official R4 examples (CC0)
set -euo pipefail

cache="${FHIR_TEST_CACHE:-$HOME/.cache/fhir-server-tests}"
mkdir -p "$cache"

fetch_npm() {
    local spec="$1" file="$2"
    if [[ -s "$cache/$file" ]]; then
        echo "fetch-test-data: $file already in $cache"
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "fetch-test-data: npm is needed to fetch $spec (apt-get install -y npm)" >&2
        exit 1
    fi
    echo "fetch-test-data: npm pack $spec into $cache"
    # npm's own download cache also lives outside the repository.
    local tmp
    tmp="$(mktemp -d "$cache/.tmp.XXXXXX")"
    (cd "$tmp" && npm pack --silent --cache "$cache/npm-cache" "$spec" >/dev/null)
    mv "$tmp/$file" "$cache/$file"
    rm -rf "$tmp"
}

fetch_npm hl7.fhir.r4.examples@4.0.1 hl7.fhir.r4.examples-4.0.1.tgz

# The FHIRPath reference engine (npm `fhirpath`, HL7/LHNCBC) for the
# differential test conformance-tests/tests/fhirpath_differential.rs.
if [[ -d "$cache/fhirpath-js/node_modules/fhirpath" ]]; then
    echo "fetch-test-data: npm fhirpath already in $cache/fhirpath-js"
else
    echo "fetch-test-data: npm install fhirpath into $cache/fhirpath-js"
    mkdir -p "$cache/fhirpath-js"
    (cd "$cache/fhirpath-js" && npm install --silent --no-audit --no-fund --cache "$cache/npm-cache" fhirpath@5 >/dev/null)
fi
