"""Development and benchmark scripts, run from a checkout (`python -m devtools.NAME`).

Not installed with hostbench: nothing in the packages imports them (docs/architecture.md).
"""
