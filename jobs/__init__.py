"""Ray jobs: the analysis pipeline (Ray Data), and later discovery and training."""
