"""The smsgw daemon: I/O around ``protocols`` sessions, the durable store, the HTTP API and
the ops CLI. It imports ``protocols`` and never ``simulators``."""
