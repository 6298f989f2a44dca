"""Training the models the readers run, apart from the readers themselves: the detector and the
recognizer, each as data (what it learns from), model and loop (how it learns)."""
