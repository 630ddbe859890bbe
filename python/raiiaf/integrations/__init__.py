"""Adapters that record RAIIAF files from the generators people use, each a
thin layer over raiiaf.Recorder:

- raiiaf.integrations.diffusers: a ``callback_on_step_end`` for diffusers
  pipelines and a helper that records a pipeline call's arguments and output;
- raiiaf.integrations.comfyui: a ComfyUI custom node pack (copy or link the
  folder into ComfyUI's ``custom_nodes/``): Save RAIIAF, Load RAIIAF,
  Load latent from RAIIAF.

Neither host is imported by this package: the adapters work on the objects
the hosts hand them."""
