# Dashboard browser tests (tests/system/browser) in Debian's Chromium, driven by the Python playwright
# package from the lock file (no browser download), and the screenshots in docs/img/ (shown in docs/dashboards.md).
# Adds: APT_PACKAGES (chromium, for `make tools`), target dashboard-screenshots.

APT_PACKAGES += chromium chromium-driver fonts-dejavu-core

.PHONY: dashboard-screenshots

dashboard-screenshots: $(VENV)/.synced ## run the browser tests and refresh docs/img/*.png (6 h, 30 d, 1 y, phone, 50,000 rooms)
	DASHBOARD_DOCS_IMG=docs/img ROOMTEMP_STRICT_TOOLS=1 $(BIN)/pytest \
		tests/system/browser/test_browser.py tests/system/browser/test_scale_browser.py \
		tests/system/browser/test_sensors_browser.py
