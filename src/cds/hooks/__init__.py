"""The CDS Hooks 2.0.1 contract: wire models for requests, responses, cards and feedback."""
