"""Policies for OGPO: the flow actor (with its EMA and slow copies), the critic ensemble, and both optimizers.

The flow maps noise ``x_0 ~ N(0, I)`` to a flat action chunk ``x_K`` in ``[-1, 1]^d`` through K denoising
steps of :class:`~sb3_ogpo.ogpo.flow.FlowSampler` (see :mod:`sb3_ogpo.ogpo.flow`).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn
from torch.nn import functional as F

from sb3_ogpo.ogpo.flow import FlowSampler, FlowVelocityNet, VelocityFn

DETERMINISTIC_ACTORS = ("current", "ema", "slow")


class EnsembleLinear(nn.Module):
    """``n_members`` independent linear layers evaluated as one batched matmul on ``(M, B, in)``."""

    def __init__(self, n_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(th.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(th.empty(n_members, 1, out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return th.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    """LayerNorm with separate affine parameters per ensemble member."""

    def __init__(self, n_members: int, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(th.ones(n_members, 1, features))
        self.bias = nn.Parameter(th.zeros(n_members, 1, features))

    def forward(self, x: th.Tensor) -> th.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


class EnsembleCritic(nn.Module):
    """M Q-networks ``Q_m(features(s), chunk)`` (LayerNorm MLPs) with stacked weights.

    :return: from ``forward``, float32 Q-values of shape ``(M, B)`` (also under bf16 autocast).
    """

    def __init__(self, features_dim: int, flow_dim: int, net_arch: list[int], n_critics: int) -> None:
        super().__init__()
        self.n_critics = n_critics
        layers: list[nn.Module] = []
        input_dim = features_dim + flow_dim
        for width in net_arch:
            layers += [EnsembleLinear(n_critics, input_dim, width), EnsembleLayerNorm(n_critics, width), nn.SiLU()]
            input_dim = width
        layers.append(EnsembleLinear(n_critics, input_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: th.Tensor, actions: th.Tensor) -> th.Tensor:
        inputs = th.cat([features, actions], dim=-1)
        hidden = self.net[:-1](inputs.unsqueeze(0).expand(self.n_critics, *inputs.shape))
        # The output layer runs in float32 even under bf16 autocast: bfloat16 keeps 8 significant bits
        # (spacing 0.5 for |Q| in [64, 128)), as coarse as the differences between a group's chunks.
        with th.autocast(device_type=hidden.device.type, enabled=False):
            return self.net[-1](hidden.float()).squeeze(-1)


class OGPOPolicy(BasePolicy):
    """Flow actor (with an EMA copy and a slow EMA copy for chi-squared regularization) and an
    ensemble of critics with target copies.

    :param observation_space: observation space (Box or Dict).
    :param action_space: the env's Box action space; the flow outputs chunks of ``chunk_size`` actions.
    :param lr_schedule: actor learning-rate schedule (the critic's is set by the algorithm).
    :param chunk_size: number of actions h per chunk, executed open-loop.
    :param denoising_steps: K, the number of denoising steps.
    :param sde_sigma: per-step noise std of the stochastic sampler.
    :param marginal_correction: see :class:`FlowSampler`.
    :param clipped_chain_end: see :class:`FlowSampler` (the released code's chain storage).
    :param actor_net_arch: hidden widths of the velocity MLP (paper: 4 x 512).
    :param critic_net_arch: hidden widths of each critic (paper: 4 x 512, LayerNorm).
    :param n_critics: ensemble size M.
    :param time_embedding_dim: size of the sinusoidal time embedding.
    :param deterministic_actor: which actor ``predict(deterministic=True)`` integrates: "current" (the
        paper), "ema" (the EMA actor ``actor_target``, which collects the data) or "slow" (the slow EMA
        ``actor_slow``, Polyak rate ``tau_slow_actor``: an average over ~1/tau_slow_actor actor steps).
    :param ode_noise_scale: std of the initial noise of that deterministic ODE: 1 integrates from N(0, I) (the
        flow's own distribution: the paper's evaluation, and every figure in docs/benchmarks.md unless stated), 0
        from the noise mean (the flow's mode); collection and training always use N(0, I).
    :param features_extractor_class: SB3 features extractor (flatten / combined by default).
    :param optimizer_class: optimizer of the actor and of the critics (AdamW, as released).
    :param optimizer_kwargs: keyword arguments of both optimizers (learning rates and weight decays come from OGPO).
    :param actor_optimizer_kwargs: keyword arguments of the actor's optimizer alone, over ``optimizer_kwargs``
        (e.g. ``dict(eps=1e-5)``: a larger Adam epsilon for the actor only).
    """

    actor_target: FlowVelocityNet
    critic_target: EnsembleCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        chunk_size: int = 4,
        denoising_steps: int = 10,
        sde_sigma: float = 0.05,
        marginal_correction: str = "consistent",
        clipped_chain_end: bool = False,
        actor_net_arch: Optional[list[int]] = None,
        critic_net_arch: Optional[list[int]] = None,
        n_critics: int = 10,
        time_embedding_dim: int = 32,
        deterministic_actor: str = "current",
        ode_noise_scale: float = 1.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: Optional[dict[str, Any]] = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.AdamW,
        optimizer_kwargs: Optional[dict[str, Any]] = None,
        actor_optimizer_kwargs: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=True,
            normalize_images=normalize_images,
        )
        self.actor_optimizer_kwargs = dict(actor_optimizer_kwargs or {})
        for name, kwargs in (("optimizer_kwargs", self.optimizer_kwargs), ("actor_optimizer_kwargs", self.actor_optimizer_kwargs)):
            if "lr" in kwargs:
                raise ValueError(f"policy_kwargs {name} must not set 'lr': OGPO sets the learning rates "
                                 "(learning_rate for the actor, critic_learning_rate for the critics).")
        self.chunk_size = chunk_size
        self.action_dim = get_action_dim(action_space)
        self.flow_dim = chunk_size * self.action_dim
        self.actor_net_arch = actor_net_arch if actor_net_arch is not None else [512, 512, 512, 512]
        self.critic_net_arch = critic_net_arch if critic_net_arch is not None else [512, 512, 512, 512]
        self.n_critics = n_critics
        self.time_embedding_dim = time_embedding_dim
        if deterministic_actor not in DETERMINISTIC_ACTORS:
            raise ValueError(f"deterministic_actor must be one of {DETERMINISTIC_ACTORS}, got {deterministic_actor!r}.")
        self.deterministic_actor = deterministic_actor
        if not ode_noise_scale >= 0:
            raise ValueError(f"ode_noise_scale must be >= 0 (1: N(0, I), 0: the noise mean), got {ode_noise_scale!r}.")
        self.ode_noise_scale = float(ode_noise_scale)
        self.sampler = FlowSampler(denoising_steps, sde_sigma, marginal_correction, clipped_chain_end=clipped_chain_end)
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        # The extractors used here (flatten / combined) have no parameters, so one is shared.
        self.features_extractor = self.make_features_extractor()
        features_dim = self.features_extractor.features_dim

        def make_actor() -> FlowVelocityNet:
            return FlowVelocityNet(features_dim, self.flow_dim, self.actor_net_arch, self.time_embedding_dim)

        def make_critic() -> EnsembleCritic:
            return EnsembleCritic(features_dim, self.flow_dim, self.critic_net_arch, self.n_critics)

        self.actor, self.actor_target, self.actor_slow = make_actor(), make_actor(), make_actor()
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.actor_slow.load_state_dict(self.actor.state_dict())
        self.critic, self.critic_target = make_critic(), make_critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        for module in (self.actor_target, self.actor_slow, self.critic_target):
            module.requires_grad_(False)
        self.make_optimizers(actor_lr=lr_schedule(1), critic_lr=lr_schedule(1))

    def make_optimizers(self, actor_lr: Optional[float] = None, critic_lr: Optional[float] = None,
                        actor_weight_decay: float = 0.0, critic_weight_decay: float = 0.0) -> None:
        """(Re)create the actor's (``optimizer``) and/or the critics' (``critic_optimizer``) optimizer of
        ``optimizer_class``; an optimizer whose learning rate is None is left as it is."""
        kwargs = dict(self.optimizer_kwargs)
        if actor_lr is not None:
            self.optimizer = self.optimizer_class(self.actor.parameters(), lr=actor_lr, **{
                "weight_decay": actor_weight_decay, **kwargs, **self.actor_optimizer_kwargs})
        if critic_lr is not None:
            self.critic_optimizer = self.optimizer_class(self.critic.parameters(), lr=critic_lr,
                                                         **{"weight_decay": critic_weight_decay, **kwargs})

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            chunk_size=self.chunk_size,
            denoising_steps=self.sampler.n_steps,
            sde_sigma=self.sampler.sigma,
            marginal_correction=self.sampler.marginal_correction,
            clipped_chain_end=self.sampler.clipped_chain_end,
            actor_net_arch=self.actor_net_arch,
            critic_net_arch=self.critic_net_arch,
            n_critics=self.n_critics,
            time_embedding_dim=self.time_embedding_dim,
            deterministic_actor=self.deterministic_actor,
            ode_noise_scale=self.ode_noise_scale,
            features_extractor_class=self.features_extractor_class,
            features_extractor_kwargs=self.features_extractor_kwargs,
            normalize_images=self.normalize_images,
            optimizer_class=self.optimizer_class,
            optimizer_kwargs=self.optimizer_kwargs,
            actor_optimizer_kwargs=self.actor_optimizer_kwargs,
        )
        return data

    def load_actor_weights(self, state_dict: dict[str, th.Tensor]) -> None:
        """Install actor weights in the actor and its EMA and slow copies (a start, or a fallback)."""
        for actor in (self.actor, self.actor_target, self.actor_slow):
            actor.load_state_dict(state_dict)

    def copy_actor_from(self, source: OGPOPolicy, name: str) -> None:
        """Install the actor of ``source`` (a policy loaded from ``name``), with an error naming what does not match."""
        if source.flow_dim != self.flow_dim:
            raise ValueError(f"init_policy {name!r} has flow dimension {source.flow_dim}, but this model needs "
                             f"{self.flow_dim}: use the same chunk_size and action space.")
        try:
            self.load_actor_weights(source.actor.state_dict())
        except RuntimeError as error:
            raise ValueError(
                f"init_policy {name!r} has a different actor architecture ({source.actor_net_arch}) than this model "
                f"({self.actor_net_arch}): set policy_kwargs=dict(actor_net_arch=...) to match it."
            ) from error

    def actor_weights(self) -> dict[str, th.Tensor]:
        """A detached copy of the actor's weights (a snapshot to restore later)."""
        return {name: value.detach().clone() for name, value in self.actor.state_dict().items()}

    # ----- flow helpers ---------------------------------------------------------------------
    @property
    def deterministic_ode_actor(self) -> FlowVelocityNet:
        """The actor ``predict(deterministic=True)`` integrates (``deterministic_actor``)."""
        return {"current": self.actor, "ema": self.actor_target, "slow": self.actor_slow}[self.deterministic_actor]

    def features(self, obs: PyTorchObs) -> th.Tensor:
        return self.extract_features(obs, self.features_extractor)

    @staticmethod
    def velocity_fn(actor: FlowVelocityNet, features: th.Tensor) -> VelocityFn:
        """Bind ``features`` to ``actor``; repeats them when x holds several rows per state."""

        def velocity(x: th.Tensor, tau: th.Tensor) -> th.Tensor:
            repeats = x.shape[0] // features.shape[0] if len(features) else 1  # no rows: no chain had an advantage
            feats = features if repeats == 1 else features.repeat(repeats, 1)
            return actor(feats, x, tau)

        return velocity

    def sample_chunks(
        self,
        features: th.Tensor,
        actor: Optional[FlowVelocityNet] = None,
        stochastic: bool = True,
        n_samples: int = 1,
        return_chain: bool = False,
        noise_scale: float = 1.0,
    ) -> tuple[th.Tensor, Optional[th.Tensor], Optional[th.Tensor]]:
        """Sample ``n_samples`` chunks per state (sample-major: row ``j * B + i`` is sample j of state i), from
        initial noise ``noise_scale * N(0, I)``.

        :return: chunks ``(n_samples * B, d)`` in [-1, 1], the chains and the normalized log-probs.
        """
        actor = self.actor if actor is None else actor
        batch = features.shape[0]
        x0 = th.randn(n_samples * batch, self.flow_dim, device=features.device)
        if noise_scale != 1.0:
            x0 = x0 * noise_scale
        return self.sampler.sample(self.velocity_fn(actor, features), x0, stochastic, return_chain)

    def chain_log_prob(self, actor: FlowVelocityNet, features: th.Tensor, chain: th.Tensor) -> th.Tensor:
        return self.sampler.chain_log_prob(self.velocity_fn(actor, features), chain)

    def flow_matching_loss(self, features: th.Tensor, chunks: th.Tensor, weights: Optional[th.Tensor] = None) -> th.Tensor:
        """Behaviour-cloning loss ``|| v(x_tau, tau, s) - (a - x0) ||^2`` (mean over dims, weighted over rows)."""
        x0 = th.randn_like(chunks)
        tau = th.rand(chunks.shape[0], device=chunks.device)
        x_tau = (1 - tau.unsqueeze(-1)) * x0 + tau.unsqueeze(-1) * chunks
        per_row = (self.actor(features, x_tau, tau) - (chunks - x0)).pow(2).mean(-1)
        if weights is None:
            return per_row.mean()
        return (per_row * weights).sum() / weights.sum().clamp(min=1.0)

    # ----- SB3 prediction -------------------------------------------------------------------
    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        """First action of a freshly planned chunk (in [-1, 1])."""
        return self.plan_chunks(observation, deterministic)[:, : self.action_dim]

    def plan_chunks(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        """Chunks ``(B, h * A)``: the Euler ODE if deterministic (of the actor ``deterministic_actor`` names,
        from ``ode_noise_scale * N(0, I)``), else an SDE sample of the current actor."""
        actor = self.deterministic_ode_actor if deterministic else self.actor
        noise_scale = self.ode_noise_scale if deterministic else 1.0
        with th.no_grad():
            chunks, _, _ = self.sample_chunks(self.features(observation), actor, stochastic=not deterministic,
                                              noise_scale=noise_scale)
        return chunks

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: Optional[tuple[np.ndarray, ...]] = None,
        episode_start: Optional[np.ndarray] = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Optional[tuple[np.ndarray, ...]]]:
        """Actions from action chunks executed open-loop.

        ``state`` carries the pending chunk between calls as ``(chunks (n_envs, h, A), next index
        (n_envs,))``; pass back the returned state (``evaluate_policy``, ``EvalCallback`` and RL Zoo's
        enjoy do) to execute chunks, or pass ``None`` to re-plan every step. Envs whose
        ``episode_start`` is True, or whose chunk is used up, re-plan.
        """
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        n_envs = next(iter(obs_tensor.values())).shape[0] if isinstance(obs_tensor, dict) else obs_tensor.shape[0]
        if state is None:
            chunks = np.zeros((n_envs, self.chunk_size, self.action_dim), dtype=np.float32)
            next_index = np.full(n_envs, self.chunk_size)
        else:
            chunks, next_index = state[0].copy(), state[1].copy()
        replan = next_index >= self.chunk_size
        if episode_start is not None:
            replan |= np.asarray(episode_start, dtype=bool).reshape(-1)
        if replan.any():
            planned = self.plan_chunks(obs_tensor, deterministic).cpu().numpy()
            chunks[replan] = planned[replan].reshape(-1, self.chunk_size, self.action_dim)
            next_index[replan] = 0
        actions = chunks[np.arange(n_envs), next_index]
        next_index = next_index + 1
        actions = self.unscale_action(actions)
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, (chunks, next_index)


class MultiInputPolicy(OGPOPolicy):
    """OGPO policy for Dict observation spaces (vector entries concatenated)."""

    def __init__(self, *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


MlpPolicy = OGPOPolicy
