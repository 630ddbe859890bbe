"""RAIIAF nodes for ComfyUI: Save RAIIAF, Load RAIIAF, Load latent from RAIIAF.

Install: make ``raiiaf`` importable by ComfyUI's Python (pip install ./python
in its environment), then copy or link this folder into ComfyUI's
``custom_nodes/`` under a name other than ``raiiaf`` (for example
``custom_nodes/raiiaf_nodes``), and restart ComfyUI."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
