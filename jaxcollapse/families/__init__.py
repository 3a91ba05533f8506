"""Model families: pure fit / sample functions on equinox pytrees."""
