"""Adam without torch.optim, for start-up time.

``torch.optim.Optimizer.__init__`` imports ``torch._dynamo`` on first use, which costs
~1.2 s of a ~3 s ``ntm-widgets train`` start on a 2-core CPU, and the same pause before
the Playground's first step. This is the same algorithm (Kingma & Ba 2015, as
``torch.optim.Adam`` with its defaults: no weight decay, no AMSGrad), updating all
parameters with a handful of ``torch._foreach_*`` calls per step.

It has the parts of the optimizer interface the trainer and checkpoints use:
``param_groups`` (one group; its ``lr`` may be changed between steps), ``state``
(``state.clear()`` forgets the moments), ``zero_grad``, ``step``, and ``state_dict`` /
``load_state_dict`` in torch.optim.Adam's format, so checkpoints written by either load
into either.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List

import torch


class Adam:
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        params = list(params)
        if not params:
            raise ValueError("Adam needs at least one parameter")
        self.param_groups: List[Dict] = [
            dict(
                params=params,
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=0.0,
                amsgrad=False,
                maximize=False,
                foreach=None,
                capturable=False,
                differentiable=False,
                fused=None,
            )
        ]
        self.state: Dict[torch.Tensor, Dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        beta1, beta2 = group["betas"]
        for p in params:
            if p not in self.state:
                self.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        states = [self.state[p] for p in params]
        grads = [p.grad for p in params]
        m = [s["exp_avg"] for s in states]
        v = [s["exp_avg_sq"] for s in states]
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1.0)
        torch._foreach_lerp_(m, grads, 1.0 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - beta2)
        # All parameters share one step count unless some had no gradient on some steps.
        by_step: Dict[float, List[int]] = {}
        for i, s in enumerate(steps):
            by_step.setdefault(float(s), []).append(i)
        for t, idx in by_step.items():
            step_size = group["lr"] / (1.0 - beta1**t)
            denom = torch._foreach_sqrt([v[i] for i in idx])
            torch._foreach_div_(denom, math.sqrt(1.0 - beta2**t))
            torch._foreach_add_(denom, group["eps"])
            torch._foreach_addcdiv_([params[i] for i in idx], [m[i] for i in idx], denom, value=-step_size)

    def state_dict(self) -> Dict:
        group = self.param_groups[0]
        index = {p: i for i, p in enumerate(group["params"])}
        state = {index[p]: {k: t.clone() for k, t in s.items()} for p, s in self.state.items()}
        groups = [{**{k: v for k, v in group.items() if k != "params"}, "params": list(range(len(group["params"])))}]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, data: Dict) -> None:
        """Load this class's or torch.optim.Adam's state dict (same format)."""
        group = self.param_groups[0]
        params = group["params"]
        groups = data["param_groups"]
        ids = [i for g in groups for i in g["params"]]
        if len(groups) != 1 or len(ids) != len(params):
            raise ValueError(
                f"optimizer state has {len(ids)} parameters in {len(groups)} groups; this model has {len(params)} in 1"
            )
        for key in ("lr", "betas", "eps"):
            if key in groups[0]:
                group[key] = tuple(groups[0][key]) if key == "betas" else groups[0][key]
        self.state = {}
        for pos, i in enumerate(ids):
            s = data["state"].get(i)
            if s is None:
                continue
            p = params[pos]
            step = s["step"]
            self.state[p] = {
                "step": (step.detach().clone().float().cpu() if torch.is_tensor(step) else torch.tensor(float(step))),
                "exp_avg": s["exp_avg"].detach().to(p.device, p.dtype).clone(),
                "exp_avg_sq": s["exp_avg_sq"].detach().to(p.device, p.dtype).clone(),
            }
