//! Runnable examples; see the binaries under src/bin.
