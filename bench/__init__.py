"""Side-by-side benchmarks of Stellate against its peers (``python -m bench --help``).

Not a published package: it lives in the repository so every speed claim can be
re-measured on the machine at hand, as a ratio to a peer measured in the same run.
"""
