"""A simulated store with a known treatment effect, split by our own assignment function.

Each customer has a purchase propensity ``lam ~ Gamma(2, 0.5)`` (mean 1). Before enrolment they
place ``Poisson(0.5 lam)`` orders in the 90 days (the CUPED covariate); in the 30 days after it,
``Poisson(0.3 lam (1 + LIFT x treated))`` orders of ``Gamma(4, 12.5)`` dollars (mean 50). So the
true incremental revenue per recipient is ``E[lam] x 0.3 x LIFT x 50 = TRUE_EFFECT``.
"""

from dataclasses import dataclass

import numpy as np

from xsell_plugin.experiments.assignment import TREATMENT, assign

LIFT = 0.3
MEAN_ORDER = 50.0
BASE_RATE = 0.3
TRUE_EFFECT = 1.0 * BASE_RATE * LIFT * MEAN_ORDER  # 4.5 dollars per recipient


@dataclass
class World:
    treated: np.ndarray  # bool per customer
    pre_orders: list  # per customer: list of (days before enrolment, value)
    post_orders: list  # per customer: list of (days after enrolment, value)


def simulate(n: int, seed: int, *, store_id: int, sequence_id: int, customer_ids=None) -> World:
    rng = np.random.default_rng(seed)
    ids = customer_ids if customer_ids is not None else range(n)
    treated = np.array(
        [assign(store_id=store_id, sequence_id=sequence_id, customer_id=c).arm == TREATMENT for c in ids]
    )
    lam = rng.gamma(2.0, 0.5, n)
    pre_n = rng.poisson(0.5 * lam)
    post_n = rng.poisson(BASE_RATE * lam * (1 + LIFT * treated))
    pre = [[(float(rng.uniform(1, 89)), float(rng.gamma(4, 12.5))) for _ in range(k)] for k in pre_n]
    post = [[(float(rng.uniform(0.01, 29.9)), float(rng.gamma(4, 12.5))) for _ in range(k)] for k in post_n]
    return World(treated, pre, post)


def outcome_arrays(world: World):
    y = np.array([sum(v for _, v in orders) for orders in world.post_orders])
    x = np.array([sum(v for _, v in orders) for orders in world.pre_orders])
    return y, x
