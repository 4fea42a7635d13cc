"""FHIR-reading tests: make the shared helpers in this directory (logical_refs, fhirserver) importable."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
