"""The composition root: the `alpr` CLI, the HTTP API and the demo; the only package that imports flows/, detectors/ and sinks/."""
