"""Metrics apart from models: sample quality (Frechet distance, k-NN precision and recall, MMD)."""
