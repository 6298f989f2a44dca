"""Local development: the local stack (tansu, Redis, Prometheus) and the camera simulator."""
