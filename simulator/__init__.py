"""The street model: traffic, sensors, lamp nodes, fake firmware, scenarios and reports."""
