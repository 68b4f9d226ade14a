"""The screens: overview, journeys (with the waterfall), dead letters, live tail, help."""
