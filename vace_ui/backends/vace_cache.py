"""A step cache for WanVACETransformer3DModel that accounts for the VACE hints (TeaCache, made VACE-aware).

Why not diffusers' FirstBlockCache / MagCache: they cache the residual of the main block stack only, but the VACE
transformer adds a control hint after each VACE layer *outside* the blocks. On a cached step those hooks reuse a
residual that already contains the previous step's hints and the forward adds the current hints again, so the
control signal counts twice (tests show it: two identical calls give different outputs). This cache decides at the
first VACE block, before any hint exists, and on a cached step skips the VACE blocks too (their hints become zero),
so the reused residual, measured from the first block's input to the final norm's input, stands for everything.

The skip decision is TeaCache's for Wan2.1 (use_ret_steps variant): the relative L1 change of the timestep
projection between consecutive calls of one CFG branch, rescaled by the polynomial fitted for the base model and
accumulated; below the threshold the call is served from the cache. It depends on the timesteps only, so a run is
deterministic and its skip pattern is the same for every prompt. Built on diffusers' hook registry: per-branch
state via the pipeline's `cache_context("cond"/"uncond")`, reset by the pipeline at the end of every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from diffusers.hooks import HookRegistry, ModelHook
from diffusers.hooks.hooks import BaseState, CacheContext, StateManager

HOOK_LEADER = "vace_teacache_leader"
HOOK_VACE = "vace_teacache_vace_block"
HOOK_HEAD = "vace_teacache_head"
HOOK_BLOCK = "vace_teacache_block"
HOOK_TAIL = "vace_teacache_tail"
ALL_HOOKS = (HOOK_LEADER, HOOK_VACE, HOOK_HEAD, HOOK_BLOCK, HOOK_TAIL)


@dataclass(frozen=True)
class VaceCacheConfig:
    """threshold: accumulated rescaled change below which a call is reused (larger = more reuse). coefficients:
    TeaCache's polynomial (highest power first). retention_steps: leading calls per CFG branch always computed
    (TeaCache's use_ret_steps uses 5). max_consecutive: cap on reused calls in a row (0 = no cap, as TeaCache)."""

    threshold: float
    coefficients: tuple[float, ...]
    retention_steps: int = 5
    max_consecutive: int = 0


@dataclass
class CacheStats:
    """Transformer calls computed and served from the cache since the last `reset()` (kept across pipeline calls)."""

    computed: int = 0
    skipped: int = 0

    def reset(self) -> None:
        self.computed = self.skipped = 0

    def to_dict(self) -> dict:
        return {"computed_calls": self.computed, "cached_calls": self.skipped}


class _BranchState(BaseState):
    """One CFG branch's trajectory: calls so far, the last indicator, the accumulated distance, the residual."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.calls = 0
        self.previous: torch.Tensor | None = None
        self.accumulated = 0.0
        self.consecutive = 0
        self.compute = True
        self.head_input: torch.Tensor | None = None
        self.residual: torch.Tensor | None = None


def _arg(args, kwargs, index: int, name: str):
    return kwargs[name] if name in kwargs else args[index]


class _Hook(ModelHook):
    def __init__(self, states: StateManager):
        super().__init__()
        self.states = states

    def state(self) -> _BranchState:
        if self.states._context is None:  # called outside a pipeline (bench, tests): one anonymous branch
            self.states.set_context(CacheContext("inference"))
        return self.states.get_state()


class _LeaderHook(_Hook):
    """On vace_blocks[0], the first block the forward runs: decides for the whole call."""

    _is_stateful = True

    def __init__(self, states: StateManager, config: VaceCacheConfig, stats: CacheStats):
        super().__init__(states)
        self.config = config
        self.stats = stats
        self.poly = [float(c) for c in config.coefficients]

    @torch.compiler.disable
    def _decide(self, hidden_states: torch.Tensor, temb: torch.Tensor, control: torch.Tensor):
        state = self.state()
        cfg = self.config
        compute = True
        if state.calls >= cfg.retention_steps and state.previous is not None and state.residual is not None:
            previous = state.previous
            change = ((temb - previous).abs().mean() / previous.abs().mean().clamp_min(1e-12)).item()
            rescaled = 0.0
            for coefficient in self.poly:
                rescaled = rescaled * change + coefficient
            state.accumulated += rescaled
            capped = cfg.max_consecutive and state.consecutive >= cfg.max_consecutive
            compute = state.accumulated >= cfg.threshold or bool(capped)
        if compute:
            state.accumulated = 0.0
            state.consecutive = 0
        else:
            state.consecutive += 1
        state.previous = temb.detach()
        state.calls += 1
        state.compute = compute
        state.head_input = hidden_states
        if compute:
            self.stats.computed += 1
            return None
        self.stats.skipped += 1
        return hidden_states.new_zeros(()), control

    def new_forward(self, module, *args, **kwargs):
        skipped = self._decide(_arg(args, kwargs, 0, "hidden_states"), _arg(args, kwargs, 3, "temb"),
                               _arg(args, kwargs, 2, "control_hidden_states"))
        if skipped is not None:
            return skipped
        return self.fn_ref.original_forward(*args, **kwargs)

    def reset_state(self, module):
        self.states.reset()
        return module


class _VaceBlockHook(_Hook):
    """Other VACE blocks: on a cached call return a zero hint (a 0-d tensor, broadcast by the forward's add)."""

    @torch.compiler.disable
    def _skip(self, args, kwargs):
        if self.state().compute:
            return None
        hidden_states = _arg(args, kwargs, 0, "hidden_states")
        return hidden_states.new_zeros(()), _arg(args, kwargs, 2, "control_hidden_states")

    def new_forward(self, module, *args, **kwargs):
        skipped = self._skip(args, kwargs)
        return skipped if skipped is not None else self.fn_ref.original_forward(*args, **kwargs)


class _MainBlockHook(_Hook):
    """Main blocks: on a cached call the first returns input + cached residual, the others pass through."""

    def __init__(self, states: StateManager, head: bool):
        super().__init__(states)
        self.head = head

    @torch.compiler.disable
    def _skip(self, args, kwargs):
        state = self.state()
        if state.compute:
            return None
        hidden_states = _arg(args, kwargs, 0, "hidden_states")
        if self.head:
            return hidden_states + state.residual.to(hidden_states.device, hidden_states.dtype)
        return hidden_states

    def new_forward(self, module, *args, **kwargs):
        skipped = self._skip(args, kwargs)
        return skipped if skipped is not None else self.fn_ref.original_forward(*args, **kwargs)


class _TailHook(_Hook):
    """On norm_out, which receives the stack's final hidden states (after the last hint): records the residual."""

    @torch.compiler.disable
    def _record(self, hidden_states: torch.Tensor) -> None:
        state = self.state()
        if state.compute and state.head_input is not None:
            state.residual = hidden_states.to(state.head_input.dtype) - state.head_input
        state.head_input = None

    def pre_forward(self, module, *args, **kwargs):
        self._record(args[0] if args else kwargs["hidden_states"])
        return args, kwargs


@dataclass
class VaceCacheHandle:
    """What `apply_vace_cache` installed; `stats` counts computed and cached calls."""

    config: VaceCacheConfig
    stats: CacheStats = field(default_factory=CacheStats)


def apply_vace_cache(transformer: torch.nn.Module, config: VaceCacheConfig) -> VaceCacheHandle:
    """Install the cache on a WanVACETransformer3DModel (remove any first with `remove_vace_cache`)."""
    if getattr(transformer, "_vace_cache", None) is not None:
        raise ValueError("the VACE cache is already applied; remove it first")
    if getattr(transformer, "_cache_config", None) is not None:
        raise ValueError("a diffusers cache is enabled on this transformer; disable_cache() first")
    blocks, vace_blocks = transformer.blocks, transformer.vace_blocks
    handle = VaceCacheHandle(config)
    states = StateManager(_BranchState)
    HookRegistry.check_if_exists_or_initialize(transformer)
    HookRegistry.check_if_exists_or_initialize(vace_blocks[0]).register_hook(
        _LeaderHook(states, config, handle.stats), HOOK_LEADER)
    for block in list(vace_blocks)[1:]:
        HookRegistry.check_if_exists_or_initialize(block).register_hook(_VaceBlockHook(states), HOOK_VACE)
    for index, block in enumerate(blocks):
        name = HOOK_HEAD if index == 0 else HOOK_BLOCK
        HookRegistry.check_if_exists_or_initialize(block).register_hook(_MainBlockHook(states, index == 0), name)
    HookRegistry.check_if_exists_or_initialize(transformer.norm_out).register_hook(_TailHook(states), HOOK_TAIL)
    transformer._diffusers_hook.invalidate_child_registries_cache()
    transformer._vace_cache = handle
    return handle


def remove_vace_cache(transformer: torch.nn.Module) -> bool:
    """Remove the cache hooks; True when there were any."""
    if getattr(transformer, "_vace_cache", None) is None:
        return False
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    for name in ALL_HOOKS:
        registry.remove_hook(name, recurse=True)
    registry.invalidate_child_registries_cache()
    transformer._vace_cache = None
    return True


def vace_cache_handle(transformer: torch.nn.Module) -> VaceCacheHandle | None:
    return getattr(transformer, "_vace_cache", None)
