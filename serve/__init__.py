"""Ray Serve application: MouseGPT replicas with dynamic batching, and the search API."""
