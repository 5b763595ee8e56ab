#!/bin/sh
# Regenerates the chain-growth pictures shown in the main README.
# Run from the repository root after `cargo build --release`.
set -e
out=benchmarks/figures
som=${SOM:-target/release/som}
bench=${SOM_BENCH:-target/release/som-bench}
"$som" --trace dispatch,jit --trace-format=json \
    -cp smalltalk-src/core:benchmarks/reflection \
    benchmarks/harness/Harness.som ProxyAdd 3 >/dev/null 2>"$out/chains-proxyadd.jsonl"
"$bench" chains "$out/chains-proxyadd.jsonl" -o "$out/chains-proxyadd.svg" --filter benchmarks/reflection
"$som" --trace dispatch,jit --trace-format=json \
    benchmarks/tests/fixtures/RedefineHot.som >/dev/null 2>"$out/chains-redefine.jsonl"
"$bench" chains "$out/chains-redefine.jsonl" -o "$out/chains-redefine.svg" --filter RedefineHot
rm "$out/chains-proxyadd.jsonl" "$out/chains-redefine.jsonl"
