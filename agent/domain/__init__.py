"""Pure rules with no I/O: the capacity model, names and FQDNs, who may decide, journal markers."""
