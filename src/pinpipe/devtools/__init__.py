"""Developer tooling: binaries the tests and scripts need, built from source and cached."""
