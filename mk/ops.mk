# Operations and security: the long fault and fuzz runs, checkov; promtool (Debian
# package prometheus) for tests/obs/test_alert_rules.py, installed by `make tools`.
# Adds: APT_PACKAGES (prometheus), targets fault-test, fuzz, checkov.

APT_PACKAGES += prometheus

.PHONY: fault-test fuzz

fault-test: $(VENV)/.synced ## database restart and SIGTERM under load (plus the retry test)
	OPS_LOAD_SECONDS=$${OPS_LOAD_SECONDS:-5} $(BIN)/pytest tests/system/ops/fault_check.py \
	  tests/system/ops/test_retries.py -p no:cacheprovider $(PYTEST_ARGS)

fuzz: $(VENV)/.synced ## schemathesis, every check, auth on and off: 6,782 cases (2.5 min quiet, 11 min under load)
	OPS_FUZZ_CASES=$${OPS_FUZZ_CASES:-100} OPS_FUZZ_PHASES=$${OPS_FUZZ_PHASES:-examples,coverage,fuzzing,stateful} \
		$(BIN)/pytest tests/system/ops/test_fuzz.py -p no:cacheprovider --timeout 1800 $(PYTEST_ARGS)

# checkov (large, many pinned dependencies) in its own virtualenv under the git-ignored .tools/.
CHECKOV_VERSION := 3.3.30
CHECKOV := .tools/checkov/bin/checkov
.PHONY: checkov
$(CHECKOV): | $(UV)
	$(UV) venv -q .tools/checkov --python "$$(command -v $(PYTHON))"
	$(UV) pip install -q --python .tools/checkov/bin/python checkov==$(CHECKOV_VERSION)

checkov: $(VENV)/.synced $(CHECKOV) deploy-tools ## checkov on the Dockerfile, chart and k8s manifests
	$(BIN)/pytest tests/deploy/checkov_check.py -p no:cacheprovider $(PYTEST_ARGS)
