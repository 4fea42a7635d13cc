"""Where the project's bundled content lives: rule files, the readmission model, examples.

The service, the command line and the quality tools start from these defaults;
a configuration setting (``CDS_RULES_DIR``, ``CDS_MODEL_DIR``) or a command-line
option always wins. The paths assume the project is installed from its
repository (``pip install -e .``), as the README's Quickstart does.
"""

from __future__ import annotations

from pathlib import Path

import cds

__all__ = ["EXAMPLES_DIR", "MODEL_DIR", "REPO_ROOT", "RULES_DIR"]

#: The repository root: src/cds/__init__.py -> src/cds -> src -> root.
REPO_ROOT = Path(cds.__file__).resolve().parents[2]
#: The rule files, value sets and code systems quality teams edit.
RULES_DIR = REPO_ROOT / "rules"
#: The trained readmission model with its metadata and model card.
MODEL_DIR = REPO_ROOT / "models" / "readmission"
#: Persona bundles and CDS Hooks requests.
EXAMPLES_DIR = REPO_ROOT / "fhir_examples"
