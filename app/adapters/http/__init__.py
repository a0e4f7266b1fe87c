"""HTTP adapters: the ExternalIntegration client."""
