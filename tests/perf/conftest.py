# tests/perf holds a benchmark, not tests: nothing here is for pytest to collect.
collect_ignore_glob = ["*"]
