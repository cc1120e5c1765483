"""Time partitions of `capture`: creation ahead, moving stray rows, retention."""
