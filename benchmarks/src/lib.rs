//! The library half of `som-bench`: what its suites share with the tests in
//! `benchmarks/tests/`.

pub mod chains;
pub mod plot;
pub mod report;
pub mod zero_overhead;
