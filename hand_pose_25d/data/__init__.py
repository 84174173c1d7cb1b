"""Datasets: the synthetic hand renderer, readers of public datasets, crops and augmentation (numpy/OpenCV)."""
