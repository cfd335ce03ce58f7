/* HAQ's agent: DDPG (Lillicrap et al.) with the release's hyper-parameters (HAQ_SPEC §1).
 *
 *   actor  μ(s): S → h1 → h2 → 1, ReLU, ReLU, sigmoid (the action, in [0, 1])
 *   critic Q(s, a) = L3(ReLU(L2(ReLU(Ls(s) + La(a))))): Ls S → h1 and La 1 → h1 (each with a
 *          bias), L2 h1 → h2, L3 h2 → 1, no output activation
 *
 * Every linear layer starts at W, b ~ U(−1/√fan_in, +1/√fan_in); the target networks μ′, Q′
 * start as copies. Adam (β 0.9/0.999, eps 1e-8, no weight decay) with the actor's and the
 * critic's learning rates. One update (rl_ddpg_update): draw a minibatch from the replay
 * memory, subtract the moving-average reward baseline B (B = the first batch's mean reward, then
 * B += α·(batch mean − B) on every update), critic step on the MSE to
 *   y = (r − B) + γ·(1 − done)·Q′(s′, μ′(s′)),
 * actor step on −mean Q(s, μ(s)), then soft updates θ′ ← (1 − τ)·θ′ + τ·θ of both targets.
 *
 * Exploration (rl_ddpg_act): episodes 0 … warmup (inclusive) draw a ~ U[0, 1); later episodes
 * draw a ~ N(μ(s), σ²) truncated to [0, 1] with σ = sigma0 · sigma_decay^(episode − warmup).
 *
 * Replay: a ring of `memory` transitions; a minibatch is drawn uniformly without replacement
 * when more than `batch` transitions are stored, with replacement otherwise.
 *
 * All randomness (init, exploration, minibatches) comes from one nn_rng seeded with cfg.seed, so
 * a run is a function of its seed. rl_ddpg_save writes the whole state — weights, targets, Adam
 * moments and step counts, replay ring, baseline, RNG state, configuration — and rl_ddpg_load
 * restores it exactly: an agent saved after some calls and loaded continues bitwise as the
 * original would have. */
#ifndef HAQ_RL_DDPG_H
#define HAQ_RL_DDPG_H

#include <stddef.h>
#include <stdint.h>

struct rl_ddpg_cfg {
    int state_dim;           /* S */
    int hidden1, hidden2;    /* 300, 300 */
    float lr_actor;          /* 1e-4 */
    float lr_critic;         /* 1e-3 */
    float tau;               /* 0.01 */
    float discount;          /* γ = 1.0 */
    int batch;               /* 64 */
    int memory;              /* replay capacity in transitions (HAQ: 128 × layers per episode) */
    int warmup;              /* 20: episodes 0 … warmup act uniformly at random */
    float sigma0;            /* 0.5 */
    float sigma_decay;       /* 0.99 */
    float baseline_alpha;    /* 0.5 */
    uint64_t seed;           /* 234 */
};

/* The release's values for a state of state_dim features and `steps` transitions per episode
 * (memory = 128 · steps). */
struct rl_ddpg_cfg rl_ddpg_cfg_default(int state_dim, int steps);

struct rl_ddpg;

/* Build an agent (weights initialized from cfg->seed). Returns NULL on a bad configuration or
 * out of memory (nn_err has the reason). */
struct rl_ddpg *rl_ddpg_create(const struct rl_ddpg_cfg *cfg);
void rl_ddpg_free(struct rl_ddpg *a);
const struct rl_ddpg_cfg *rl_ddpg_config(const struct rl_ddpg *a);

/* The action for state s[S] in episode `episode`: uniform during warm-up, the truncated-normal
 * exploration around μ(s) afterwards; explore = 0 gives μ(s) itself (no randomness drawn). */
float rl_ddpg_act(struct rl_ddpg *a, const float *s, int episode, int explore);
/* μ(s) without exploration, and the σ episode `episode` explores with (0 during warm-up). */
float rl_ddpg_mu(struct rl_ddpg *a, const float *s);
float rl_ddpg_sigma(const struct rl_ddpg *a, int episode);
/* Q(s, action) of the critic (for reports and tests). */
float rl_ddpg_q(struct rl_ddpg *a, const float *s, float action);

/* Store one transition (s, action, reward, s_next, done) in the replay ring. */
void rl_ddpg_observe(struct rl_ddpg *a, const float *s, float action, float reward,
                     const float *s_next, int done);
/* Number of transitions stored (≤ memory). */
int rl_ddpg_stored(const struct rl_ddpg *a);

/* One update as described above; fills the losses when the pointers are not NULL. Returns 0, or
 * −1 when nothing is stored yet (nn_err). */
int rl_ddpg_update(struct rl_ddpg *a, float *critic_loss, float *actor_loss);

/* The whole state to / from a file (written to a temporary name and renamed). load checks that
 * the file's configuration equals cfg where cfg is not NULL, and names the file and the field on
 * any mismatch or damage. Return 0 or −1 (nn_err). */
int rl_ddpg_save(const struct rl_ddpg *a, const char *path);
struct rl_ddpg *rl_ddpg_load(const char *path, const struct rl_ddpg_cfg *cfg);
/* 1 when configurations f (a file's) and e (expected) differ, with the first differing field
 * described in buf ("hidden1 is 300 in the file, 400 expected"); 0 when equal. */
int rl_ddpg_cfg_diff(const struct rl_ddpg_cfg *f, const struct rl_ddpg_cfg *e, char *buf,
                     size_t n);

#endif
