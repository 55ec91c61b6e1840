"""The next-rung kit: from a finished run's evidence, the files for the step the verdict names.

Pure builders (evidence in, file contents out; no I/O): a retrieval corpus from the knowledge
cases, a candidate prompt drafted from the failure kinds, fine-tuning data with a held-out split
and a LoRA configuration for the behavior cases that persist, and a README that ties them to
the verdict.
"""

from app.kit.build import Kit, build_kit
from app.kit.evidence import CaseEvidence, RunEvidence, Sample

__all__ = ["CaseEvidence", "Kit", "RunEvidence", "Sample", "build_kit"]
