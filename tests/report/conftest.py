"""The report tests that drop partitions reuse the partition tests' fixture."""

from tests.partitions.conftest import clean_partitions

__all__ = ["clean_partitions"]
