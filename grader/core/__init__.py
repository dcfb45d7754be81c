"""Assignment-independent grading machinery."""
