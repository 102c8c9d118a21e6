#!/usr/bin/env bash
# Fetches the test data the conformance tests and the benchmark read, into a
# cache OUTSIDE the repository so that a fresh clone stays small and repeated
# runs do not download again.
#
#   FHIR_TEST_CACHE   where to keep it (default: $HOME/.cache/fhir-server-tests)
#
# Contents after a run:
#   $FHIR_TEST_CACHE/hl7.fhir.r4.examples-4.0.1.tgz   the 5,307 official R4 examples (CC0)
#   $FHIR_TEST_CACHE/hl7.fhir.r4.expansions-4.0.1.tgz the R4 publication's ValueSet expansions (CC0)
#   $FHIR_TEST_CACHE/fhirpath-js/                       npm fhirpath (FHIRPath differential test)
#   $FHIR_TEST_CACHE/python-clients/                    venv: fhirclient, fhirpy, fhir.resources
#   $FHIR_TEST_CACHE/fhir-kit-client-js/                npm fhir-kit-client
set -euo pipefail

cache="${FHIR_TEST_CACHE:-$HOME/.cache/fhir-server-tests}"
mkdir -p "$cache"

# Stops, saying what to install, when a tool is missing: every test that
# uses what this script fetches fails under CI=true without it
# (conformance-tests/src/tools.rs), so failing here is the clearer message.
need() {
    local tool="$1" why="$2" package="$3"
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "fetch-test-data: $tool is needed to $why (apt-get install -y $package)" >&2
        exit 1
    fi
}

fetch_npm() {
    local spec="$1" file="$2"
    if [[ -s "$cache/$file" ]]; then
        echo "fetch-test-data: $file already in $cache"
        return
    fi
    need npm "fetch $spec" npm
    echo "fetch-test-data: npm pack $spec into $cache"
    # npm's own download cache also lives outside the repository.
    local tmp
    tmp="$(mktemp -d "$cache/.tmp.XXXXXX")"
    (cd "$tmp" && npm pack --silent --cache "$cache/npm-cache" "$spec" >/dev/null)
    mv "$tmp/$file" "$cache/$file"
    rm -rf "$tmp"
}

fetch_npm hl7.fhir.r4.examples@4.0.1 hl7.fhir.r4.examples-4.0.1.tgz
# The oracle of terminology/tests/published_expansions.rs.
fetch_npm hl7.fhir.r4.expansions@4.0.1 hl7.fhir.r4.expansions-4.0.1.tgz

# The FHIRPath reference engine (npm `fhirpath`, HL7/LHNCBC) for the
# differential test conformance-tests/tests/fhirpath_differential.rs.
if [[ -d "$cache/fhirpath-js/node_modules/fhirpath" ]]; then
    echo "fetch-test-data: npm fhirpath already in $cache/fhirpath-js"
else
    need npm "install npm fhirpath" npm
    need node "run npm fhirpath" nodejs
    echo "fetch-test-data: npm install fhirpath into $cache/fhirpath-js"
    mkdir -p "$cache/fhirpath-js"
    (cd "$cache/fhirpath-js" && npm install --silent --no-audit --no-fund --cache "$cache/npm-cache" fhirpath@5 >/dev/null)
fi

# The real FHIR clients driven by conformance-tests/tests/real_clients.rs:
# the Python packages `fhirclient` and `fhirpy`, plus `fhir.resources` (a
# pydantic model of FHIR that every response body must parse with), in a venv,
# and the npm package `fhir-kit-client`. Pinned: the marker files record what
# was installed, so a later run with the same pins does nothing.
# fhir.resources 6.5.0 is written for pydantic 1 (it fails to import under 2).
py_pins="fhirclient==4.4.0 fhirpy==2.3.1 fhir.resources==6.5.0 pydantic==1.10.27"
py_venv="$cache/python-clients"
if [[ -x "$py_venv/bin/python" && "$(cat "$py_venv/.installed" 2>/dev/null)" == "$py_pins" ]]; then
    echo "fetch-test-data: python clients already in $py_venv"
else
    need python3 "make the venv of the Python client tests" python3-venv
    echo "fetch-test-data: python venv with $py_pins into $py_venv"
    rm -rf "$py_venv"
    python3 -m venv "$py_venv" || {
        echo "fetch-test-data: python3 -m venv failed (apt-get install -y python3-venv)" >&2
        rm -rf "$py_venv"
        exit 1
    }
    # shellcheck disable=SC2086 # the pins are separate words
    "$py_venv/bin/pip" install --quiet --disable-pip-version-check \
        --cache-dir "$cache/pip-cache" $py_pins || {
        echo "fetch-test-data: pip install $py_pins failed" >&2
        rm -rf "$py_venv"
        exit 1
    }
    echo "$py_pins" >"$py_venv/.installed"
fi

js_pin="fhir-kit-client@2.0.3"
js_dir="$cache/fhir-kit-client-js"
if [[ -d "$js_dir/node_modules/fhir-kit-client" && "$(cat "$js_dir/.installed" 2>/dev/null)" == "$js_pin" ]]; then
    echo "fetch-test-data: npm $js_pin already in $js_dir"
else
    need npm "install npm $js_pin" npm
    need node "run npm $js_pin" nodejs
    echo "fetch-test-data: npm install $js_pin into $js_dir"
    rm -rf "$js_dir"
    mkdir -p "$js_dir"
    (cd "$js_dir" && npm install --silent --no-audit --no-fund --cache "$cache/npm-cache" "$js_pin" >/dev/null)
    echo "$js_pin" >"$js_dir/.installed"
fi
