"""Sans-IO codecs and session state machines for SMPP 3.4, CMPP 2.0/3.0 and SMGP 3.0.

Bytes in, events out; events in, bytes out. Nothing in this package touches a socket, a
clock, a random source, a database or a logger: time and sequence numbers are passed in,
so every behaviour is reproducible in a unit test. It may import only the standard
library, ``construct`` and itself; ``tests/test_layering.py`` enforces that.
"""
