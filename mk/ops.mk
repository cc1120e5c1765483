# Operations and security: promtool for the alert rules, the long fault and fuzz runs.
# Included by the Makefile before its rules.

# `make run` is for local development: authentication off, loudly (the server logs a warning).
# An AUTH_REQUIRED already in the environment wins.
run: export AUTH_REQUIRED ?= false
run: export LOG_FORMAT ?= text

TEST_PREREQS += ops-tools

.PHONY: ops-tools fault-test fuzz

# promtool (Debian package `prometheus`) checks and unit-tests deploy/prometheus/*.yaml.
ops-tools: ## install promtool for the alert-rule tests (apt, as root) when missing
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
		|| { echo "promtool is needed: apt-get install prometheus" >&2; exit 1; }

fault-test: $(VENV)/.synced ## database restart and SIGTERM under load (plus the retry test)
	OPS_LOAD_SECONDS=$${OPS_LOAD_SECONDS:-5} $(BIN)/pytest tests/ops/fault_check.py tests/ops/test_retries.py -p no:cacheprovider $(PYTEST_ARGS)

fuzz: $(VENV)/.synced ## schemathesis, every check, auth on and off: about 6,800 cases (11 min)
	OPS_FUZZ_CASES=$${OPS_FUZZ_CASES:-100} OPS_FUZZ_PHASES=$${OPS_FUZZ_PHASES:-examples,coverage,fuzzing,stateful} \
		$(BIN)/pytest tests/ops/test_fuzz.py -p no:cacheprovider --timeout 1800 $(PYTEST_ARGS)

# checkov (large, many pinned dependencies) in its own virtualenv under the git-ignored .tools/.
CHECKOV_VERSION := 3.3.30
CHECKOV := .tools/checkov/bin/checkov
.PHONY: checkov
$(CHECKOV): | $(UV)
	$(UV) venv -q .tools/checkov --python "$$(command -v $(PYTHON))"
	$(UV) pip install -q --python .tools/checkov/bin/python checkov==$(CHECKOV_VERSION)

checkov: $(VENV)/.synced $(CHECKOV) deploy-tools ## checkov on the Dockerfile, chart and k8s manifests
	$(BIN)/pytest tests/ops/checkov_check.py -p no:cacheprovider $(PYTEST_ARGS)
