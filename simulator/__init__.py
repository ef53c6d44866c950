"""The street model: traffic, road users, sensors, lamp nodes, scenarios, the night engine,
KPIs and reports. It depends on the control core and the site config only; ``harness``
holds what runs the real daemon against it (brokers, fake firmware, processes, soak, demo)."""
