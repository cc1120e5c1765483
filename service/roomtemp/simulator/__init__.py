"""A sensor simulator that posts realistic readings to a running roomtemp."""
