"""Tools on top of everything: the command line, the benchmarks, the classroom load test, downloads."""
