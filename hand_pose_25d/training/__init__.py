"""Training: settings, data mixing and the training loop (torch is imported by the loop only)."""
