# Dashboard: browser tests in Debian's Chromium (driven by the Python playwright package from
# the lock file; no browser download), and the screenshots in docs/img/ (shown in docs/dashboards.md).
# CI: `make browser-deps` before `make test`, with CI_REQUIRE_BROWSER=1 exported so a missing
# Chromium fails the dashboard browser tests instead of skipping them.

CHROMIUM_PACKAGES := chromium chromium-driver fonts-dejavu-core

.PHONY: browser-deps dashboard-screenshots

browser-deps: ## install Debian's chromium + chromium-driver for the browser tests (apt, as root)
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium present: $$(chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(CHROMIUM_PACKAGES) >/dev/null && \
		echo "installed: $$(chromium --version)"; \
	else \
		echo "browser-deps: install Chromium yourself (Debian/Ubuntu: sudo apt-get install" \
			"$(CHROMIUM_PACKAGES)), or set CHROMIUM_PATH to a Chromium/Chrome binary" >&2; \
		exit 1; \
	fi

dashboard-screenshots: $(VENV)/.synced ## run the browser tests and refresh docs/img/*.png
	DASHBOARD_DOCS_IMG=docs/img CI_REQUIRE_BROWSER=1 $(BIN)/pytest tests/dashboard/test_browser.py
