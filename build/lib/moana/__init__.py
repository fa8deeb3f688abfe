"""moana: a reproducibility kit for MoANA (Module of Axis-based Nexus Attention).

Sohn, Jeon, Jung, Kang, Suk. "MoANA: Module of Axis-based Nexus Attention for weakly
supervised object localization and semantic segmentation", Scientific Reports 2023.
"""

__version__ = "0.1.0"
