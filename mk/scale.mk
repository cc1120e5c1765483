# Scale-out: PgBouncer for tests/system/scale/test_pgbouncer.py (Debian package, 1.18 on
# Debian 12), installed by `make tools`. Without it the test skips with the reason, except under
# ROOMTEMP_STRICT_TOOLS=1 (CI), where it fails.
# Adds: APT_PACKAGES (pgbouncer).

APT_PACKAGES += pgbouncer
