"""cuda-python 12.6+ spelling (``from cuda.bindings import driver, runtime``) of the stand-in."""
