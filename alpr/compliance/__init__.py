"""Policy 820 and Civil Code 1798.90.51-.55: the map from each clause to its code and tests, and the live checks."""
