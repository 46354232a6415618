"""Demo world: a procedural face dataset and an attribute model to judge generators without real data."""
