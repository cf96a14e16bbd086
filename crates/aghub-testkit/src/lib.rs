//! Test-only helpers for aghub, kept out of the service's library and binary: a dev-dependency
//! of the tests, the benchmark, the examples and `scripts/make-sample-images.sh`. Does not
//! depend on `aghub`, so it can check aghub's output independently.

pub mod synth;
