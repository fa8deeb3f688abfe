"""The generic training engine, used by WSOL training (:mod:`moana.train`) and by every WSSS
step (:mod:`moana.wsss`): nothing here knows a task.

Modules: ``loop`` (the epoch loop: ``EpochLoop``, ``LoopSettings``, ``StepOutput``,
``Validation``, ``DivergedError``), ``checkpoint`` (resumable checkpoints, weights-only loads),
``files`` (the checkpoint folder's file names), ``distributed`` (torchrun helpers),
``runtime`` (device, seeds, autocast, torch flags, placing a model) and ``config``
(``RuntimeConfig``, the ``runtime`` section of the configs). Import from the modules; this
package imports nothing, so the light command-line paths stay free of torch.
"""
