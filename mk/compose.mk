# Issue 22: `make compose-test` brings docker-compose.yml up for real (Docker Compose v2 against
# podman's Docker-compatible API) and replays the README's compose block. Needs root and Debian's
# podman/buildah/runc/debootstrap (installed here when missing), netavark + aardvark-dns for the
# compose network's DNS. Not part of `make test` (minutes, root). Included by the Makefile.

COMPOSE_TEST_APT := podman buildah runc debootstrap netavark aardvark-dns

.PHONY: compose-test

compose-test: $(VENV)/.synced ## bring docker-compose.yml up with podman, replay the README block
	@missing=; for t in podman buildah runc debootstrap netavark aardvark-dns; do \
		command -v $$t >/dev/null || [ -x /usr/lib/podman/$$t ] || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $(COMPOSE_TEST_APT) >/dev/null; \
	fi
	$(BIN)/pytest tests/deploy/compose_check.py -p no:cacheprovider -s $(PYTEST_ARGS)
