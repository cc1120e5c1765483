# Citus for real: `make citus-test` runs the database-facing suite on a 3-node Citus cluster (a
# coordinator and two workers on loopback, as the embedded server's non-root user). Citus has no
# Debian or PyPI package here: it is built from a source tarball named by CITUS_SRC into Debian's
# PostgreSQL 15 (apt, as root; scripts/citus/build.sh), then tests/citus_cluster.py starts the
# nodes and the usual fixtures migrate a database there (migration 0005 distributes it). Same
# tests, another server; tests marked single_node say why they are skipped. Not part of
# `make test`; .ci/run runs it with CITUS_SRC=../shared/citus/citus-13.2.2.tar.gz. docs/scaling.md.
# Adds: target citus-test.

CITUS_PG_BIN := /usr/lib/postgresql/15/bin
CITUS_BUILD_DIR := .cache/citus/build
# The nodes' server logs after the run (Citus's refusals, with DETAIL, are only there).
CITUS_LOG_DIR := .cache/citus/logs
# The database-facing suites: every feature package's SQL and API tests. Left out: tool, deploy,
# docs and CI checks (no database), the embedded server's own tests, and the live-server system
# suites (browser, faults, PgBouncer, replica), which have their own targets.
# Modules in those directories that render files with deploy tools and touch no database.
CITUS_NOT_DATABASE := tests/dashboard/test_chart.py
CITUS_TEST_DIRS := alerts api auth average bench capture dashboard db deletion export importer lifecycle \
	live mqtt obs partitions registry report rollup sensors simulator

.PHONY: citus-test
citus-test: $(VENV)/.synced ## the database-facing suite on a 3-node Citus cluster (CITUS_SRC=citus-x.y.z.tar.gz)
	@if [ -z "$(CITUS_SRC)" ] || [ ! -f "$(CITUS_SRC)" ]; then \
		echo "make citus-test needs CITUS_SRC=<path to a Citus source tarball> (Citus 13.x, e.g." \
			"../shared/citus/citus-13.2.2.tar.gz; git archive --prefix=citus-13.2.2/ v13.2.2)," \
			"and root for apt (PostgreSQL 15 server and headers, build dependencies)." \
			"Got CITUS_SRC='$(CITUS_SRC)'." >&2; \
		exit 2; \
	fi
	scripts/citus/build.sh "$(CITUS_SRC)" $(CITUS_BUILD_DIR)
	TEST_CITUS_BINDIR=$(CITUS_PG_BIN) CITUS_LOG_DIR=$(CITUS_LOG_DIR) $(BIN)/pytest $(addprefix tests/,$(CITUS_TEST_DIRS)) \
	  $(addprefix --ignore=,$(CITUS_NOT_DATABASE)) -p no:cacheprovider $(PYTEST_ARGS)
