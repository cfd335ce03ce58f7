/* Internals of the DDPG agent (rl/ddpg.c) that the tests check directly: the parameter blocks,
 * the loss gradients of one minibatch, the soft update and the reward baseline.
 *
 * Parameter layout of one block (all linear weights [in][out], as nn/layers.h):
 *   actor  W1 [S][h1]  b1 [h1]  W2 [h1][h2]  b2 [h2]  W3 [h2][1]  b3 [1]
 *   critic Ws [S][h1]  bs [h1]  Wa [1][h1]   ba [h1]  W2 [h1][h2] b2 [h2]  W3 [h2][1]  b3 [1]
 * The target networks have the same layout; gradients exist for the trained networks only. */
#ifndef HAQ_RL_DDPG_INTERNAL_H
#define HAQ_RL_DDPG_INTERNAL_H

#include <stddef.h>

#include "rl/ddpg.h"

enum rl_net { RL_ACTOR, RL_CRITIC, RL_ACTOR_TARGET, RL_CRITIC_TARGET };

/* The parameter block of `net` ([*n] floats, layout above). */
float *rl_ddpg_params(struct rl_ddpg *a, enum rl_net net, size_t *n);
/* The gradient block of RL_ACTOR or RL_CRITIC (same length as its parameters). */
float *rl_ddpg_grads(struct rl_ddpg *a, enum rl_net net);

/* The critic's gradient of L = mean_i (Q(s_i, act_i) − y_i)² over n ≤ cfg.batch rows
 * (s [n][S], act [n], y [n]) written to its gradient block; returns L. */
float rl_ddpg_critic_grad(struct rl_ddpg *a, const float *s, const float *act, const float *y,
                          int n);
/* The actor's gradient of L = −mean_i Q(s_i, μ(s_i)) over n ≤ cfg.batch rows (s [n][S]) written
 * to its gradient block, the critic held fixed (its gradient block is not touched); returns L. */
float rl_ddpg_actor_grad(struct rl_ddpg *a, const float *s, int n);

/* target[i] = target[i]·(1 − tau) + src[i]·tau for i < n (PyTorch's expression order). */
void rl_ddpg_soft_update(float *target, const float *src, size_t n, float tau);

/* The replay slots of the next minibatch (idx [cfg.batch]), drawn as rl_ddpg_update draws them
 * (it advances the agent's RNG likewise); needs at least one stored transition. */
void rl_ddpg_sample(struct rl_ddpg *a, int *idx);
/* Transition `slot` (< rl_ddpg_stored) of the replay ring; the pointers it writes are valid until
 * the slot is overwritten. */
void rl_ddpg_slot(const struct rl_ddpg *a, int slot, const float **s, float *action, float *reward,
                  const float **s_next, int *done);

/* The reward baseline B; *initialised (when not NULL) is 0 before the first update. */
float rl_ddpg_baseline(const struct rl_ddpg *a, int *initialised);

#endif
