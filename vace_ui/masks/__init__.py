"""Mask operations, tracking and segment-anything. Masks are (H, W) bool arrays in memory (True = generate)."""
