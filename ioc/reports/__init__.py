"""Reports built from the store: the monthly SLA report (`ioc report sla`)."""
