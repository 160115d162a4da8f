"""The durable store: schema, migrations, the group-commit writer and the pooled readers.

Writes go through one thread (``writer.Writer``) and reads through worker threads
(``readers.Readers``) because the drivers block and trio must not; ``store.open_store``
assembles them for the daemon.
"""
