"""Live speaker diarization: who said each result (docs/diarization.md)."""
