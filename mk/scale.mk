# Scale-out: PgBouncer for tests/scale/test_pgbouncer.py (Debian package, 1.18 on
# Debian 12). Installed with apt when we are root and it is missing; elsewhere the test is
# skipped with a warning, except under ROOMTEMP_STRICT_TOOLS=1 (CI), where it must run.

TEST_PREREQS += scale-tools

.PHONY: scale-tools

scale-tools: ## install PgBouncer (apt, as root) for the PgBouncer test
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& { apt-get update -qq; DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null; }; } \
		|| { echo "WARNING: no pgbouncer: tests/scale/test_pgbouncer.py will be skipped" >&2; \
		     [ "$${ROOMTEMP_STRICT_TOOLS:-0}" != 1 ] || exit 1; exit 0; }
