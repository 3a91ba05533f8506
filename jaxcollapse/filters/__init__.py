"""Filters applied between generations: learned (contraction-conditioned) or rule-based."""
