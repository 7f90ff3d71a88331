"""EnerLog-compatible datalogger firmware."""

VERSION = "0.1.0"
