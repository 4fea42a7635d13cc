"""FHIR R4 resources -> one typed PatientSnapshot (the fact catalogue)."""
