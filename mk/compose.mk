# Docker Compose for real: `make compose-test` brings docker-compose.yml up (Docker Compose v2, the
# docker-compose binary of the dev group, against podman's Docker-compatible API) and replays the
# README's compose block (tests/deploy/compose_check.py). Needs root and Debian's podman, buildah,
# runc, debootstrap, netavark + aardvark-dns for the compose network's DNS, and iptables (netavark
# 1.4 programs the network with it; without it `compose up` fails "netavark: No such file or
# directory" on a machine where nothing else installed it). Not part of
# `make test` (minutes, root); `make check` runs it after image-test (which builds the base image).
# Adds: APT_PACKAGES (netavark aardvark-dns iptables), target compose-test.

COMPOSE_TEST_APT = $(IMAGE_TEST_APT) netavark aardvark-dns iptables
APT_PACKAGES += netavark aardvark-dns iptables

.PHONY: compose-test

compose-test: $(VENV)/.synced ## bring docker-compose.yml up with podman, replay the README block
	$(call apt_install,$(COMPOSE_TEST_APT))
	$(BIN)/pytest tests/deploy/compose_check.py -p no:cacheprovider -s $(PYTEST_ARGS)
