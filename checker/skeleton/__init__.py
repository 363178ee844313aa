"""The files `deepdives new NAME` writes: the tutorial's system (docs/your-own-system.md)
and its test, `pbstore` renamed to NAME."""
