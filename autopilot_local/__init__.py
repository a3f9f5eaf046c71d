"""The local stand-in for the Functions host, and the operator commands (`autopilot --help`). Never deployed."""
