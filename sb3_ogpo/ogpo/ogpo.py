"""OGPO: Off-Policy Generative Policy Optimization (Patil et al., ICML 2026).

An ensemble of critics learns off-policy from every real transition with chunked TD targets, and the
whole flow policy is improved with a clipped-PPO objective over its own imagined denoising chains
for replay states, with the target critics' value of the final action as the only reward:

1. sample ``batch_size`` replay states and ``n_group`` chains per state from the EMA actor
   (``policy.actor_target``, which plays PPO's pi_old);
2. score each final chunk with the target critics and take group-relative advantages;
3. maximise ``min(w A, clip(w, 1 - eps, 1 + eps) A)`` with ``w`` the ratio of normalized chain
   log-probs of the current and the EMA actor;
4. one TD step of the critic ensemble towards ``sum_j gamma^j r_{t+j} + gamma^h Qbar(s_{t+h}, a')``.

Stabilizers: success-buffer BC (OGPO+, ``success_bc_coef``) and TD steps (``success_td``), sign-consensus
advantage (OGPO+CA, ``advantage="conservative"``), chi-squared regularization (``chi2``), Q-variance reduction
(``n_target_samples``) and Best-of-N rollouts (``best_of_n``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar, Optional, TypeVar, Union

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import FloatSchedule, polyak_update, update_learning_rate

from sb3_ogpo.common.buffers import ChunkReplayBuffer
from sb3_ogpo.common.demonstrations import Demonstrations
from sb3_ogpo.common.env_ids import check_registered_env_id
from sb3_ogpo.common.init_policy import resolve_init_policy
from sb3_ogpo.ogpo.bc import pretrain_bc
from sb3_ogpo.ogpo.collection import ChunkedCollection
from sb3_ogpo.ogpo.diagnostics import actor_step_statistics, critic_step_statistics
from sb3_ogpo.ogpo.validation import (check_arguments, check_env_compatibility, check_scheduled_clip_range,
                                      renamed_slow_tau)
from sb3_ogpo.ogpo.losses import (
    chi2_advantage,
    chi2_pessimism,
    chunked_td_target,
    clipped_surrogate_loss,
    ensemble_td_loss,
    group_advantage,
    warm_restart_factor,
)
from sb3_ogpo.ogpo.policies import MlpPolicy, MultiInputPolicy, OGPOPolicy

SelfOGPO = TypeVar("SelfOGPO", bound="OGPO")

class OGPO(ChunkedCollection, OffPolicyAlgorithm):
    """Off-Policy Generative Policy Optimization for flow policies with action chunks.

    :param policy: "MlpPolicy" (Box observations) or "MultiInputPolicy" (Dict observations).
    :param env: the env (Box actions only; any ``n_envs >= 1``).
    :param learning_rate: actor learning rate (float or schedule; paper 4.5e-5), the peak of the warm restarts.
    :param actor_lr_restart_period: actor steps per cosine warm restart of its learning rate (50k); 0: none.
    :param actor_lr_warmup_steps: actor steps of linear warm-up at the start of each restart period (2k).
    :param actor_lr_floor_ratio: learning rate at the start and end of each period / ``learning_rate`` (2e-5 / 4.5e-5).
    :param reset_optimizers: create both optimizers afresh (restarting the actor's learning-rate schedule)
        when online training starts, and the actor's again when the policy-gradient term joins (released code).
    :param critic_learning_rate: critic learning rate (float or schedule); None uses ``learning_rate``.
    :param buffer_size: replay buffer capacity in transitions.
    :param learning_starts: env steps collected by the (BC) flow policy before updates start (paper 10k).
    :param batch_size: N_batch, replay states per actor step and transitions per critic step (256).
    :param critic_batch_size: transitions per critic step; None uses ``batch_size``.
    :param tau_actor: Polyak rate of the EMA actor (``policy.actor_target``): rollouts, TD targets, pi_old (0.005).
    :param tau_critic: Polyak rate of the target critics (0.05).
    :param gamma: discount factor (0.99; 0.95 for Adroit).
    :param train_freq: collect this many steps between updates (SB3 semantics).
    :param gradient_steps: update rounds per ``train`` call; -1 means one per env step collected.
    :param actor_utd: actor steps per update round; 0 switches the policy update off (a control run).
    :param critic_utd: critic steps per update round; 0 freezes the critics at their random initialization (a control).
    :param critic_warmup_steps: update rounds (after ``learning_starts``) in which only the critics learn
        (the released code's ``q_warmup_steps``; 0 in the paper's scripts).
    :param policy_gradient_starts: update rounds (after ``learning_starts``) in which the actor learns from
        the success-buffer BC term alone (needs ``success_bc_coef > 0``); the clipped policy-gradient term
        joins after (0: the paper's setting).
    :param denoising_steps: K, denoising steps of the flow (10; 3 for Adroit).
    :param sde_sigma: per-step noise std of the stochastic sampler (0.05).
    :param marginal_correction: "consistent" (c = 1, keeps the ODE marginals), "released" (c = 1/K) or "none".
    :param clipped_chain_end: store chains ending at the clipped chunk with pi_old's log-prob of the unclipped one, as
        released: the ratio then starts above 1 (~1.007 on Door) where actions saturate, damping the positive side.
    :param chunk_size: h, actions per chunk executed open-loop (4 for most tasks; 1 disables chunking).
    :param n_group: N_group, chains sampled per state for the group advantage (32).
    :param clip_range: PPO clip epsilon of the ratio (0.01; float or schedule).
    :param n_critics: M, size of the critic ensemble (10).
    :param critic_bootstrap_fraction: each critic learns from an independent random fraction of every batch (Bernoulli
        masks, as in Bootstrapped DQN), so members disagree where data is thin; 1.0: all from all (released).
    :param target_q_aggregation: "mean" (paper) or "min" over ensemble members in TD targets.
    :param success_bc_coef: lambda_bc of the success-buffer flow-matching BC loss (OGPO+: 1.0; 0 off).
    :param success_buffer_size: capacity of the success buffer in transitions.
    :param success_buffer_min_size: the success BC term samples the success buffer once it holds this many
        transitions, and the ordinary replay batch before; None: one batch.
    :param success_td: after each critic step, one more on a batch of the success buffer once it holds as many
        (the released Square, Transport and Tool Hang scripts; keeps a success buffer even without success-BC).
    :param advantage: "vanilla" or "conservative" (sign-consensus; OGPO+CA).
    :param advantage_clip_min: lower bound of the advantages (the released ``adv_clip_min``); 0 pushes up the chains
        better than their group's mean and none down; None: no bound.
    :param chi2: chi-squared regularization against a slow EMA of the actor; as released, the TD target then blends the
        members' mean and min by ``sigmoid(chi2_alpha (drift - 1))``, drift the last actor step's mean density ratio.
    :param chi2_coef: beta per unit of ensemble Q std for chi-squared regularization (the released 0.1).
    :param chi2_alpha: sharpness of the mean/min blend ``sigmoid(alpha (r - 1))`` (the released 1.0).
    :param chi2_max_ratio: R_max in the ratio's upper clip ``min(1 + eps, 1 + R_max / beta)`` (the released 100).
    :param tau_slow_actor: Polyak rate of the slow EMA actor of chi-squared regularization (5e-4).
    :param n_target_samples: G', next-action samples averaged in the TD bootstrap (1 = off; paper 8).
    :param target_sample_reducer: "mean", "median" or "trimmed_mean" over the G' samples per member.
    :param best_of_n: N of Best-of-N rollouts (argmax of the min of two random target critics; 1: plain OGPO).
    :param max_grad_norm: gradient-norm clip of both optimizers (released code: 1000, in effect none).
    :param actor_weight_decay: AdamW weight decay of the actor.
    :param critic_weight_decay: AdamW weight decay of the critics (1e-5).
    :param init_policy: start from a saved OGPO model (path to a zip) or from a task's clipped BC
        start (``"start:<env id>"``, generated and cached on first use by :mod:`sb3_ogpo.starts`).
        The actor weights (and EMA/slow copies) are copied; critics start fresh.
    :param bf16: bfloat16 autocast of the networks; log-probs, critic outputs and advantages are float32, but the
        log-probs carry the velocity net's bf16 rounding (~3e-3 per chain: near a clip_range of 0.01).
    :param slow_tau: deprecated name of ``tau_slow_actor``.
    :param policy_kwargs: passed to the policy (``actor_net_arch``, ``critic_net_arch``, ...).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: OGPOPolicy
    replay_buffer: ChunkReplayBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: Union[str, type[OGPOPolicy]],
        env: Union[GymEnv, str],
        learning_rate: Union[float, Schedule] = 4.5e-5,
        actor_lr_restart_period: int = 50_000,
        actor_lr_warmup_steps: int = 2_000,
        actor_lr_floor_ratio: float = 2e-5 / 4.5e-5,
        reset_optimizers: bool = True,
        critic_learning_rate: Optional[Union[float, Schedule]] = None,
        buffer_size: int = 1_000_000,
        learning_starts: int = 10_000,
        batch_size: int = 256,
        critic_batch_size: Optional[int] = None,
        tau_actor: float = 0.005,
        tau_critic: float = 0.05,
        gamma: float = 0.99,
        train_freq: Union[int, tuple[int, str]] = 1,
        gradient_steps: int = 1,
        actor_utd: int = 1,
        critic_utd: int = 1,
        critic_warmup_steps: int = 0,
        policy_gradient_starts: int = 0,
        denoising_steps: int = 10,
        sde_sigma: float = 0.05,
        marginal_correction: str = "consistent",
        clipped_chain_end: bool = False,
        chunk_size: int = 4,
        n_group: int = 32,
        clip_range: Union[float, Schedule] = 0.01,
        n_critics: int = 10,
        critic_bootstrap_fraction: float = 1.0,
        target_q_aggregation: str = "mean",
        success_bc_coef: float = 0.0,
        success_buffer_size: int = 200_000,
        success_buffer_min_size: Optional[int] = None,
        success_td: bool = False,
        advantage: str = "vanilla",
        advantage_clip_min: Optional[float] = None,
        chi2: bool = False,
        chi2_coef: float = 0.1,
        chi2_alpha: float = 1.0,
        chi2_max_ratio: float = 100.0,
        tau_slow_actor: float = 5e-4,
        n_target_samples: int = 1,
        target_sample_reducer: str = "mean",
        best_of_n: int = 1,
        max_grad_norm: float = 1000.0,
        actor_weight_decay: float = 0.0,
        critic_weight_decay: float = 1e-5,
        init_policy: Optional[str] = None,
        bf16: bool = False,
        replay_buffer_kwargs: Optional[dict[str, Any]] = None,
        policy_kwargs: Optional[dict[str, Any]] = None,
        stats_window_size: int = 100,
        tensorboard_log: Optional[str] = None,
        verbose: int = 0,
        seed: Optional[int] = None,
        device: Union[th.device, str] = "auto",
        _init_setup_model: bool = True,
        slow_tau: Optional[float] = None,
    ) -> None:
        tau_slow_actor = renamed_slow_tau(slow_tau, tau_slow_actor)
        check_arguments(locals())
        if isinstance(env, str):
            check_registered_env_id(env)
        policy_kwargs = dict(policy_kwargs or {})
        policy_kwargs.update(
            chunk_size=chunk_size,
            denoising_steps=denoising_steps,
            sde_sigma=sde_sigma,
            marginal_correction=marginal_correction,
            clipped_chain_end=clipped_chain_end,
            n_critics=n_critics,
        )
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau_critic,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=ChunkReplayBuffer,
            replay_buffer_kwargs=replay_buffer_kwargs,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Box,),
            support_multi_env=True,
        )
        self.critic_learning_rate = critic_learning_rate
        self.actor_lr_restart_period = actor_lr_restart_period
        self.actor_lr_warmup_steps = actor_lr_warmup_steps
        self.actor_lr_floor_ratio = actor_lr_floor_ratio
        self.reset_optimizers = reset_optimizers
        self._actor_steps_since_reset = 0
        self._chi2_drift = 1.0
        self.tau_actor = tau_actor
        self.tau_critic = tau_critic
        self.actor_utd = actor_utd
        self.critic_utd = critic_utd
        self.critic_warmup_steps = critic_warmup_steps
        self.policy_gradient_starts = policy_gradient_starts
        self.critic_batch_size = critic_batch_size
        self.chunk_size = chunk_size
        self.n_group = n_group
        self.clip_range = clip_range
        self.target_q_aggregation = target_q_aggregation
        self.critic_bootstrap_fraction = critic_bootstrap_fraction
        self.success_bc_coef = success_bc_coef
        self.success_buffer_size = success_buffer_size
        self.success_buffer_min_size = success_buffer_min_size
        self.success_td = success_td
        self.advantage = advantage
        self.advantage_clip_min = advantage_clip_min
        self.chi2 = chi2
        self.chi2_coef = chi2_coef
        self.chi2_alpha = chi2_alpha
        self.chi2_max_ratio = chi2_max_ratio
        self.tau_slow_actor = tau_slow_actor
        self.n_target_samples = n_target_samples
        self.target_sample_reducer = target_sample_reducer
        self.best_of_n = best_of_n
        self.max_grad_norm = max_grad_norm
        self.actor_weight_decay = actor_weight_decay
        self.critic_weight_decay = critic_weight_decay
        self.init_policy = init_policy
        self.bf16 = bf16
        self._check_env_compatibility()
        if _init_setup_model:
            self._setup_model()
            if init_policy is not None:
                self.load_init_policy(init_policy)

    # ----- setup ------------------------------------------------------------------------------
    def _check_env_compatibility(self) -> None:
        """Checks that need the env (skipped when loading without one)."""
        if self.env is not None:
            check_env_compatibility(self.env, self.chunk_size, self.buffer_size)

    def _setup_model(self) -> None:
        if "slow_tau" in self.__dict__:  # a model saved before the rename
            self.tau_slow_actor = self.__dict__.pop("slow_tau")
        self.replay_buffer_kwargs = {
            **self.replay_buffer_kwargs,
            "chunk_size": self.chunk_size,
            "gamma": self.gamma,
            "success_buffer_size": self.success_buffer_size if self.has_success_buffer else 0,
        }
        if self.optimize_memory_usage:
            raise ValueError("OGPO's chunk replay buffer does not support optimize_memory_usage.")
        super()._setup_model()
        critic_lr = self.learning_rate if self.critic_learning_rate is None else self.critic_learning_rate
        self.critic_lr_schedule = FloatSchedule(critic_lr)
        self._create_optimizers(actor=True, critic=True)
        self.clip_range_schedule = FloatSchedule(self.clip_range)
        self._reset_rollout_chunks()

    def _create_optimizers(self, actor: bool, critic: bool) -> None:
        """(Re)create the actor's and/or the critics' optimizer; a fresh actor optimizer also restarts the
        actor's learning-rate warm restarts."""
        actor_lr = self.lr_schedule(1) if actor else None
        critic_lr = self.critic_lr_schedule(1) if critic else None
        self.policy.make_optimizers(actor_lr, critic_lr, self.actor_weight_decay, self.critic_weight_decay)
        if actor:
            self._actor_steps_since_reset = 0

    @property
    def has_success_buffer(self) -> bool:
        """Whether the replay buffer keeps a success buffer (for success-BC or the success TD step)."""
        return self.success_bc_coef > 0 or self.success_td

    @property
    def critic_optimizer(self) -> th.optim.Optimizer:
        """The critics' optimizer (built by the policy; saved under this name)."""
        return self.policy.critic_optimizer

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rollout_chunks", "_rollout_chunk_index"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer", "critic_optimizer"], []

    def load_init_policy(self, init_policy: str) -> None:
        """Copy the actor of a saved OGPO model (a path, or ``"start:<env id>"`` for a task's clipped BC start) into
        this model."""
        # "start:<env id>" (registered by sb3_ogpo) gives a start with this model's actor, made and cached on first use.
        actor = dict(chunk_size=self.chunk_size, denoising_steps=self.policy.sampler.n_steps,
                     actor_net_arch=self.policy.actor_net_arch)
        path = resolve_init_policy(init_policy, actor, verbose=self.verbose)
        source = OGPO.load(path, device=self.device, custom_objects={"buffer_size": 1})
        self.policy.copy_actor_from(source.policy, init_policy)

    # ----- training ---------------------------------------------------------------------------
    def _autocast(self) -> Any:
        return th.autocast(device_type=self.device.type, dtype=th.bfloat16, enabled=self.bf16)

    def train(self, gradient_steps: int, batch_size: int = 256) -> None:
        self.policy.set_training_mode(True)
        progress = self._current_progress_remaining
        critic_lr = self.critic_lr_schedule(progress)
        clip_range = self.clip_range_schedule(progress)
        check_scheduled_clip_range(clip_range, progress)
        metrics: dict[str, list[float]] = defaultdict(list)
        for round_index in range(gradient_steps):
            update = self._n_updates + round_index
            if self.reset_optimizers and (update == 0 or (update == self.policy_gradient_starts and update > 0)):
                self._create_optimizers(actor=True, critic=update == 0)
            update_learning_rate(self.policy.critic_optimizer, critic_lr)
            policy_gradient = update >= self.policy_gradient_starts
            actor_steps = 0 if update < self.critic_warmup_steps else self.actor_utd
            if not policy_gradient and self.success_bc_coef <= 0:
                actor_steps = 0  # nothing would move the actor
            # The policy-gradient step, or the success-BC term alone before policy_gradient_starts.
            actor_step = self._actor_step if policy_gradient else self._success_bc_step
            for _ in range(actor_steps):
                actor_step(batch_size, clip_range, metrics)
            critic_batch_size = self.critic_batch_size or batch_size
            for _ in range(self.critic_utd):  # 0: frozen (random) critics, a control
                self._critic_step(critic_batch_size, metrics)
                if self.success_td and (success_buffer := self._ready_success_buffer(critic_batch_size)) is not None:
                    self._critic_step(critic_batch_size, metrics, success_buffer, "success_")
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/learning_rate", self._actor_learning_rate(progress))
        self.logger.record("train/critic_learning_rate", critic_lr)
        self.logger.record("train/clip_range", clip_range)
        if self.replay_buffer.success_buffer is not None:
            self.logger.record("train/success_buffer_size", self.replay_buffer.success_buffer.n_transitions())
        for key, values in metrics.items():
            self.logger.record(f"train/{key}", float(np.mean(values)))

    def _critic_step(self, batch_size: int, metrics: dict[str, list[float]], buffer: Optional[ChunkReplayBuffer] = None,
                     prefix: str = "") -> None:
        """One TD step of the critic ensemble on a batch of ``buffer`` (the replay buffer by default)."""
        policy = self.policy
        data = (self.replay_buffer if buffer is None else buffer).sample(batch_size)
        with th.no_grad(), self._autocast():
            next_features = policy.features(data.next_observations)
            next_chunks, _, _ = policy.sample_chunks(
                next_features, policy.actor_target, stochastic=True, n_samples=self.n_target_samples
            )
            next_q = policy.critic_target(next_features.repeat(self.n_target_samples, 1), next_chunks)
            next_q = next_q.float().view(policy.n_critics, self.n_target_samples, -1)
            aggregation = chi2_pessimism(self._chi2_drift, self.chi2_alpha) if self.chi2 else self.target_q_aggregation
            target = chunked_td_target(data.rewards, data.discounts, next_q, self.target_sample_reducer, aggregation)
        with self._autocast():
            q_values = policy.critic(policy.features(data.observations), data.actions).float()
        weights = data.valid
        if self.critic_bootstrap_fraction < 1.0:  # each member learns from its own random part of the batch
            weights = weights * (th.rand_like(q_values) < self.critic_bootstrap_fraction)
        loss = ensemble_td_loss(q_values, target, weights)
        policy.critic_optimizer.zero_grad()
        loss.backward()
        grad_norm = th.nn.utils.clip_grad_norm_(policy.critic.parameters(), self.max_grad_norm)
        policy.critic_optimizer.step()
        polyak_update(policy.critic.parameters(), policy.critic_target.parameters(), self.tau_critic)
        for key, value in critic_step_statistics(loss, q_values, target, grad_norm).items():
            metrics[prefix + key].append(value)

    def _actor_step(self, batch_size: int, clip_range: float, metrics: dict[str, list[float]]) -> None:
        """One actor step: the policy-gradient loss (plus success-BC), then the optimizer step."""
        self._apply_actor_gradient(self._actor_loss(batch_size, clip_range, metrics), metrics)

    def _actor_loss(self, batch_size: int, clip_range: float, metrics: dict[str, list[float]]) -> Optional[th.Tensor]:
        """Clipped surrogate over a fresh batch's group advantages (+ success-BC); None when nothing has a gradient."""
        policy, group = self.policy, self.n_group
        observations = self.replay_buffer.sample_observations(batch_size)
        features = policy.features(observations)
        chain_features = features.repeat(group, 1)  # row j * B + i: chain j of state i
        with th.no_grad(), self._autocast():
            chunks, chains, old_log_prob = policy.sample_chunks(
                features, policy.actor_target, stochastic=True, n_samples=group, return_chain=True
            )
            chunks = chunks.float()
            q_values = policy.critic_target(chain_features, chunks).float().view(policy.n_critics, group, -1)
        assert chains is not None and old_log_prob is not None
        clip_high = 1.0 + clip_range
        if self.chi2:  # the chi-squared advantage needs every chain's log-prob
            with self._autocast():
                log_prob = policy.chain_log_prob(policy.actor, features, chains.float())
            with th.no_grad():
                advantages, clip_high = self._chi2_advantage(q_values, features, chains, log_prob, clip_range, metrics)
        else:
            advantages = group_advantage(q_values, self.advantage)
        advantages = advantages.reshape(-1)
        if self.advantage_clip_min is not None:
            advantages = advantages.clamp(min=self.advantage_clip_min)
        # A chain with a zero advantage adds nothing to the surrogate or its gradient (the conservative advantage and
        # the advantage clip zero many): its log-prob is not computed.
        active = None if self.chi2 or bool((advantages != 0).all()) else advantages.nonzero().squeeze(-1)
        if not self.chi2:
            active_features = chain_features if active is None else chain_features[active]
            active_chains = chains if active is None else chains[:, active]
            with self._autocast():
                log_prob = policy.chain_log_prob(policy.actor, active_features, active_chains.float())
        old_log_prob = old_log_prob if active is None else old_log_prob[active]
        active_advantages = advantages if active is None else advantages[active]
        ratio = th.exp(log_prob - old_log_prob)
        loss = advantages.new_zeros(())
        if ratio.numel():  # the mean over all chains: the inactive ones contribute 0
            surrogate = clipped_surrogate_loss(ratio, active_advantages, 1.0 - clip_range, clip_high)
            loss = surrogate * (ratio.numel() / advantages.numel())
        bc_loss = self._success_bc_loss(batch_size) if self.success_bc_coef > 0 else None
        total = loss if bc_loss is None else loss + self.success_bc_coef * bc_loss
        grouped_chunks = chunks.view(group, -1, policy.flow_dim)
        statistics = actor_step_statistics(loss, (log_prob - old_log_prob).detach(), clip_range,
                                           advantages.view(group, -1), q_values, grouped_chunks, bc_loss)
        for key, value in statistics.items():
            metrics[key].append(value)
        return total if total.requires_grad else None  # no graph: no chain had an advantage and there is no BC term

    def _success_bc_step(self, batch_size: int, clip_range: float, metrics: dict[str, list[float]]) -> None:
        """An actor step on the success-BC term alone (before ``policy_gradient_starts``; ``clip_range`` is unused)."""
        bc_loss = self._success_bc_loss(batch_size)
        self._apply_actor_gradient(self.success_bc_coef * bc_loss, metrics)
        metrics["bc_loss"].append(bc_loss.item())

    def _actor_learning_rate(self, progress_remaining: float) -> float:
        factor = warm_restart_factor(self._actor_steps_since_reset, self.actor_lr_restart_period,
                                     self.actor_lr_warmup_steps, self.actor_lr_floor_ratio)
        return float(self.lr_schedule(progress_remaining) * factor)

    def _apply_actor_gradient(self, loss: Optional[th.Tensor], metrics: dict[str, list[float]]) -> None:
        """One optimizer step of the actor on ``loss`` (None: zero gradients; its norm is logged), then EMA and slow."""
        policy = self.policy
        update_learning_rate(policy.optimizer, self._actor_learning_rate(self._current_progress_remaining))
        self._actor_steps_since_reset += 1
        policy.optimizer.zero_grad(set_to_none=loss is not None)
        if loss is not None:
            loss.backward()
        metrics["actor_grad_norm"].append(th.nn.utils.clip_grad_norm_(policy.actor.parameters(), self.max_grad_norm).item())
        policy.optimizer.step()
        polyak_update(policy.actor.parameters(), policy.actor_target.parameters(), self.tau_actor)
        polyak_update(policy.actor.parameters(), policy.actor_slow.parameters(), self.tau_slow_actor)

    def _chi2_advantage(self, q_values: th.Tensor, features: th.Tensor, chains: th.Tensor, log_prob: th.Tensor,
                        clip_range: float, metrics: dict[str, list[float]]) -> tuple[th.Tensor, float]:
        """Chi-squared regularized advantage against the slow EMA actor; also the ratio's upper clip."""
        with self._autocast():
            slow_log_prob = self.policy.chain_log_prob(self.policy.actor_slow, features, chains.float())
        log_density_ratio = (log_prob.detach().float() - slow_log_prob.float()).view(self.n_group, -1)
        advantages, clip_high, stats = chi2_advantage(q_values, log_density_ratio, self.chi2_coef, self.chi2_alpha,
                                                      self.chi2_max_ratio, clip_range)
        self._chi2_drift = stats["slow_density_ratio_mean"]  # the critics' TD target follows it
        for key, value in stats.items():
            metrics[key].append(value)
        return advantages, clip_high

    def _ready_success_buffer(self, batch_size: int) -> Optional[ChunkReplayBuffer]:
        """The success buffer once it holds ``success_buffer_min_size`` transitions (at least a batch), else None."""
        success_buffer = self.replay_buffer.success_buffer
        min_size = batch_size if self.success_buffer_min_size is None else max(batch_size, self.success_buffer_min_size)
        return success_buffer if success_buffer is not None and success_buffer.n_transitions() >= min_size else None

    def _success_bc_loss(self, batch_size: int) -> th.Tensor:
        """Flow-matching BC on the success buffer; on the replay batch until the former is ready."""
        success_buffer = self._ready_success_buffer(batch_size)
        data = (self.replay_buffer if success_buffer is None else success_buffer).sample(batch_size)
        with self._autocast():
            return self.policy.flow_matching_loss(self.policy.features(data.observations), data.actions).float()

    # ----- behaviour cloning ------------------------------------------------------------------
    def pretrain_bc(
        self,
        demonstrations: Demonstrations,
        gradient_steps: int = 10_000,
        batch_size: int = 256,
        learning_rate: float = 3e-4,
        eval_freq: int = 0,
        eval_callback: Optional[Callable[[OGPO, int], bool]] = None,
        progress_bar: bool = False,
        ema_tau: Optional[float] = None,
        max_grad_norm: float = 1.0,
    ) -> int:
        """Flow-matching behaviour cloning on demonstrations, with h-step chunk targets.

        The chunk target of step t is the episode's actions t .. t + h - 1 (the last action repeats
        past the episode end). After BC the EMA and slow actors equal the actor. With ``ema_tau`` the result is the
        exponential moving average of the BC iterates (Polyak rate ``ema_tau``), which the callback sees in
        ``policy.actor``: it moves smoothly where consecutive iterates can differ a lot in success, so a start
        clipped on it is representative.

        :param demonstrations: (observation, action) arrays; actions in the env's units.
        :param gradient_steps: number of BC gradient steps.
        :param batch_size: demonstrations per step.
        :param learning_rate: AdamW learning rate of BC (paper 3e-4).
        :param eval_freq: call ``eval_callback(model, step)`` every this many steps (0: never).
        :param eval_callback: return False to stop BC early (e.g. the clipped start's success threshold).
        :param progress_bar: show a tqdm progress bar.
        :param ema_tau: keep and return the EMA of the BC iterates with this rate (None: the last iterate).
        :param max_grad_norm: gradient-norm clip of the BC steps (independent of the online ``max_grad_norm``).
        :return: the number of gradient steps taken.
        """
        return pretrain_bc(self, demonstrations, gradient_steps, batch_size, learning_rate, eval_freq, eval_callback,
                           progress_bar, ema_tau, max_grad_norm)

    def learn(
        self: SelfOGPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "OGPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOGPO:
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)


__all__ = ["OGPO"]
