"""Datasets in the DAVIS folder layout: the embedded synthetic dataset and validation of folders."""
