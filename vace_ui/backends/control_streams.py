"""Several VACE control streams in one job (Repaint with two controls, e.g. pose + depth), on diffusers'
`WanVACEPipeline`.

How the references do it: diffusers' pipeline takes one `video` + `mask` (its `conditioning_scale` list is per VACE
*layer*, not per control). Wan2GP encodes each control video as its own VACE context (`input_frames`,
`input_frames2`), runs the VACE blocks once per context and adds each context's hints to the main stream with its
own weight (`control_net_weight`, `control_net_weight2`); ComfyUI does the same when WanVaceToVideo nodes are
chained, each with its strength. This module does that here: the further streams are encoded by the pipeline's own
`preprocess_conditions` / `prepare_video_latents` / `prepare_masks` (exactly as the main stream), and a forward hook
on every VACE block of every expert runs the block again on each further stream and returns
`hint_1 * scale_1 + hint_2 * scale_2 ...`; the pipeline is then called with conditioning_scale 1.0.
"""

from __future__ import annotations

import contextlib

from ..core.inputs import ControlStream


def encode_stream(pipe, stream: ControlStream, reference_images, height: int, width: int, num_frames: int):
    """The conditioning latents of one further stream, built as the pipeline builds its main stream's."""
    import torch
    from PIL import Image

    device = pipe._execution_device
    video, mask, refs = pipe.preprocess_conditions(
        [Image.fromarray(frame) for frame in stream.video], [Image.fromarray(m, mode="L") for m in stream.mask],
        reference_images, 1, height, width, num_frames, torch.float32, device)
    latents = pipe.prepare_video_latents(video, mask, refs, None, device)
    return torch.cat([latents, pipe.prepare_masks(mask, refs, None)], dim=1)


def _embedded(transformer, conditioning, hidden_states):
    """The further stream as the first VACE block receives the main one: patch-embedded, padded to the sequence."""
    import torch

    states = transformer.vace_patch_embedding(conditioning.to(hidden_states.device, hidden_states.dtype))
    states = states.flatten(2).transpose(1, 2)
    padding = states.new_zeros(states.shape[0], hidden_states.shape[1] - states.shape[1], states.shape[2])
    states = torch.cat([states, padding], dim=1)
    return states.expand(hidden_states.shape[0], -1, -1) if hidden_states.shape[0] != states.shape[0] else states


@contextlib.contextmanager
def control_streams(transformers: list, first_scale: float, streams: list[tuple[object, float]]):
    """While active, every VACE block of `transformers` adds the hints of each (conditioning latents, scale) in
    `streams` to its own, scaled by `first_scale`. Call the pipeline with conditioning_scale=1.0 meanwhile."""
    handles = []
    for transformer in transformers:
        carried: list = []
        busy = [False]

        def hook(module, args, output, index: int, transformer=transformer, carried=carried, busy=busy):
            if busy[0]:
                return None  # the block's run on a further stream, from below
            hint, control = output
            if hint.ndim == 0:  # the step cache skipped the VACE blocks (a zero hint): nothing to add
                return None
            hidden_states, encoder_hidden_states, _, timestep_proj, rotary_emb = args[:5]
            if index == 0:
                carried[:] = [_embedded(transformer, latents, hidden_states) for latents, _ in streams]
            total = hint * first_scale
            busy[0] = True
            try:
                for number, (_, scale) in enumerate(streams):
                    extra_hint, carried[number] = module(hidden_states, encoder_hidden_states, carried[number],
                                                         timestep_proj, rotary_emb)
                    total = total + extra_hint * scale
            finally:
                busy[0] = False
            return total, control

        for index, block in enumerate(transformer.vace_blocks):
            handles.append(block.register_forward_hook(
                lambda module, args, output, index=index, hook=hook: hook(module, args, output, index)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def stream_labels(streams: list[ControlStream]) -> str:
    return ", ".join(f"{stream.label or 'control'} x{stream.conditioning_scale:g}" for stream in streams)

