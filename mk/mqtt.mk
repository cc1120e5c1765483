# The MQTT bridge: a real Mosquitto (Debian package) for tests/mqtt, and the long fault check.
# Adds: APT_PACKAGES (mosquitto), target mqtt-fault-test.

APT_PACKAGES += mosquitto

.PHONY: mqtt-fault-test
mqtt-fault-test: $(VENV)/.synced ## 100,000 captures over MQTT through bridge kills and a broker restart
	MQTT_FAULT_CAPTURES=$${MQTT_FAULT_CAPTURES:-100000} $(BIN)/pytest tests/mqtt/fault_check.py \
	  -p no:cacheprovider -s --timeout 900 $(PYTEST_ARGS)

.PHONY: bench-mqtt
bench-mqtt: $(VENV)/.synced ## MQTT captures/s (broker + bridge) next to HTTP single; bench/results/mqtt-*
	$(BIN)/python -m bench.mqtt_bench $(BENCH_ARGS)
