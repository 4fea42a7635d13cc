"""Clinical decision support for frailty screening and discharge pathways.

The core (facts, scores, rules, cards) is pure; I/O lives at the edges
(service, fhir client, store, cli). See docs/architecture.md.
"""

__version__ = "0.1.0"
