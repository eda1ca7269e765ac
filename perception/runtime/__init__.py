"""Running the stack: the graph runner, bag replay and record, sample-bag creation."""
