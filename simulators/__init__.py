"""SMSC simulators (SMPP, CMPP, SMGP) built on the server role of ``protocols`` sessions.

Used by the tests, the benchmarks and the default demo configuration. Imports
``protocols``; nothing in ``smsgw`` imports this package.
"""
