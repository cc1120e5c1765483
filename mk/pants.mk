# Pants (2.17.1, bootstrapped from PyPI into .cache/pants): the build graph the GitHub workflow
# runs (`pants lint check test ::` over every test folder), the packages (pex, image), and the
# lock/pin files with their agreement checks. docs/ci.md says which CI runs what.
# Adds: targets pants-bootstrap, pants-check, pants-owners,
# pants-package, pants-image, pants-lock, pants-inputs-check, locks-check, test-setup.
PANTS := scripts/pants/pants
# No long-lived pantsd daemon on CI machines (clean clone, one run); developers keep it.
PANTS_FLAGS ?= $(if $(CI),--no-pantsd --no-dynamic-ui,)

.PHONY: pants-bootstrap pants-check pants-owners pants-package pants-lock

pants-bootstrap: ## install Pants 2.17.1 into .cache/pants (needs a CPython 3.9, e.g. pyenv's)
	scripts/pants/bootstrap.sh

# The GitHub workflow's job, locally (~ `make test` + `make lint` once more, in Pants' sandboxes).
pants-check: pants-inputs-check test-setup ## bootstrap Pants, then pants list, lint, check and test on every target
	@# One Pants run for all four goals (Pants' start-up is the slow part without pantsd); `list`
	@# writes the targets to stdout, the other goals report on stderr.
	@mkdir -p .cache/pants
	$(PANTS) $(PANTS_FLAGS) list lint check test :: >.cache/pants/targets.txt
	@echo "pants list :: $$(wc -l <.cache/pants/targets.txt) targets (.cache/pants/targets.txt)"

pants-owners: ## fail unless every test file pytest collects is a Pants python_test target
	$(PYTHON) scripts/pants/check-owners.py -- $(PANTS) $(PANTS_FLAGS)

pants-package: ## package the CLI as a PEX through Pants and run it
	$(PANTS) $(PANTS_FLAGS) package service:cli
	./dist/roomtemp.pex --help >/dev/null

pants-lock: | $(UV) ## re-derive the Pants requirements from uv.lock and regenerate the lock file
	$(PYTHON) scripts/pants/sync-requirements.py --uv $(UV)
	$(PANTS) $(PANTS_FLAGS) generate-lockfiles

.PHONY: pants-inputs-check locks-check

pants-inputs-check: | $(UV) ## fail if 3rdparty/python/*.txt no longer match pyproject.toml + uv.lock
	$(PYTHON) scripts/pants/sync-requirements.py --check --uv $(UV)

# Every lock/pin file agrees with its one source: uv.lock with pyproject.toml, the Pants inputs
# with uv.lock (the Pants lock's own metadata is checked by tests/ci/test_pants_config.py), the
# npm lock with package.json (`npm ci` refuses a disagreement, in deploy-tools).
locks-check: pants-inputs-check | $(UV) ## fail if a lock/pin file no longer matches its source
	$(UV) lock --check


.PHONY: test-setup
# Everything `make test` needs before pytest runs (the dev container's postCreateCommand).
# A recipe, not prerequisites, so it sees TEST_PREREQS after every mk/*.mk has added to it.
test-setup: ## install what `make test` needs (venv, test tools) without running the tests
	$(MAKE) --no-print-directory $(VENV)/.synced $(TEST_PREREQS)

# `pants package //:image` on a machine without a Docker engine: Pants drives a `docker` shim that
# runs podman/buildah (scripts/pants/docker-shim/docker). The Dockerfile's base image must exist
# locally (no registry is reachable here): `make image-test` builds it with debootstrap first.
.PHONY: pants-image
pants-image: ## package the container image through Pants (podman-backed docker shim)
	@command -v podman >/dev/null || { echo "pants-image needs podman: run make image-test first" >&2; exit 1; }
	VERSION=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) REVISION=$$(git rev-parse HEAD) \
		$(PANTS) $(PANTS_FLAGS) \
		--docker-executable-search-paths="['$(CURDIR)/scripts/pants/docker-shim']" package //:image
	/usr/bin/podman image exists roomtemp:$$(git rev-parse HEAD)
