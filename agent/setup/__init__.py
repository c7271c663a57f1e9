"""Setting an installation up and checking it: `dcagent bootstrap` and `dcagent doctor`."""
