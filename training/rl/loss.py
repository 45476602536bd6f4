"""The token-level clipped policy loss (DAPO-style, with clip-higher) and its statistics.

Every included token weighs the same across the whole rollout batch: the per-token objectives are summed
and divided by the number of included tokens of the batch (`total_tokens`), not averaged per sequence, so
a long rollout is not down-weighted and micro-batches add up to exactly the loss of the whole batch.

    r   = exp(logp - logp_old)
    obj = min(r * A, clip(r, 1 - eps_low, 1 + eps_high) * A)
    loss = -sum(obj * mask) / total_tokens  (+ kl_coef * sum(k3 * mask) / total_tokens)

k3 is the unbiased, always non-negative KL estimator exp(ref - logp) - (ref - logp) - 1 against the
reference (initial) model. The clip is active — the gradient of a token is cut — on the high side where
A > 0 and r > 1 + eps_high, on the low side where A < 0 and r < 1 - eps_low; the two fractions are
reported separately (of the included tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossParts:
    """A micro-batch's share of the batch loss, and counts that add up over micro-batches."""
    loss: torch.Tensor  # what to backpropagate
    policy_sum: float  # sum of -obj over included tokens
    kl_sum: float  # sum of k3 over included tokens (0 when there is no reference)
    clip_low: int  # tokens clipped on the low side
    clip_high: int  # tokens clipped on the high side
    tokens: int  # included tokens in this micro-batch
    ratio_max: float
    ratio_min: float


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log softmax(logits / temperature)[target] per position, in float32; logits (B, T, V), targets (B, T).
    Computed as logit - logsumexp so the (B, T, V) log-softmax is never materialised twice."""
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *,
                eps_low: float, eps_high: float, total_tokens: int | None = None,
                ref_logp: torch.Tensor | None = None, kl_coef: float = 0.0) -> LossParts:
    """The loss of one micro-batch. logp, old_logp, mask: (B, T); advantages: (B,) per sequence or (B, T).
    `total_tokens`: the included tokens of the whole batch (default: this micro-batch's)."""
    mask = mask.to(logp.dtype)
    if advantages.dim() == 1:
        advantages = advantages[:, None].expand_as(logp)
    advantages = advantages.to(logp.dtype)
    tokens = int(mask.sum().item())
    denominator = float(total_tokens if total_tokens is not None else max(tokens, 1))
    ratio = torch.exp(logp - old_logp.detach())
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    objective = torch.minimum(ratio * advantages, clipped * advantages)
    policy = -(objective * mask).sum()
    loss = policy / denominator
    kl_sum = 0.0
    if ref_logp is not None:
        kl = (k3(logp, ref_logp.detach()) * mask).sum()
        kl_sum = float(kl.item())
        if kl_coef > 0:
            loss = loss + kl_coef * kl / denominator
    with torch.no_grad():
        inside = mask > 0
        high = (advantages > 0) & (ratio > 1.0 + eps_high) & inside
        low = (advantages < 0) & (ratio < 1.0 - eps_low) & inside
        ratios = ratio[inside]
    return LossParts(loss=loss, policy_sum=float(policy.item()), kl_sum=kl_sum, clip_low=int(low.sum().item()),
                     clip_high=int(high.sum().item()), tokens=tokens,
                     ratio_max=float(ratios.max().item()) if ratios.numel() else 1.0,
                     ratio_min=float(ratios.min().item()) if ratios.numel() else 1.0)
