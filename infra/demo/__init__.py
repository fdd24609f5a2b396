"""The local demo: the whole pipeline on embedded defaults (simulator, moto, in-process queue)."""
