//! The library half of `som-bench`: what its suites share with the tests in
//! `benchmarks/tests/`.

pub mod zero_overhead;
