/* The HAQ search (HAQ_SPEC §0–2): episodes of policy → budget wall → quantize → calibrate →
 * fine-tune → evaluate → reward, driven by the DDPG agent or by a baseline strategy, with every
 * artefact in one run directory and an exact resume.
 *
 * Run directory:
 *   config.txt     the options as `key = value` (the long flag names) and facts of the run
 *                  (arch, fp_top1, cost_8bit, layers …); --resume reads the options back
 *   episodes.csv   one row per finished episode (rl/report.h documents the columns)
 *   layers.csv     the best policy per layer with its latency/energy against uniform 8/8
 *   best.policy    the best policy (text form), best.haq the same as a HAQ list
 *   search.state   episodes finished, best episode and reward, the agent's file
 *   agent.N.state  the agent after N episodes (the previous one is removed after the switch)
 *   tb/            TensorBoard event files
 * search.state is renamed into place last, after the agent and the logs of its episode, so a run
 * killed at any moment resumes from the last episode whose search.state landed; an episode's
 * result depends only on the policy and the episode number (weights restored, data order and
 * every random draw seeded by (seed, episode)), so the resumed run writes the same episodes.csv
 * as an uninterrupted one (timing columns aside). */
#ifndef HAQ_RL_SEARCH_H
#define HAQ_RL_SEARCH_H

#include <stdint.h>

#include "quant/quantize.h"
#include "rl/ddpg.h"
#include "rl/env.h"

enum rl_strategy {
    RL_DDPG,    /* the agent */
    RL_RANDOM,  /* uniform random actions through the same wall (random search) */
    /* the one-policy baselines (haq search runs them for one episode unless --episodes) */
    RL_UNIFORM, /* the largest uniform policy under the budget */
    RL_GREEDY,  /* from 8/8, lower the bit that saves the most cost until under budget */
    RL_WALL,    /* the budget wall applied to 8/8: lowers last layers first */
    RL_POLICY,  /* a given policy (--policy), as it is: no wall, no hold, no fill */
};

struct rl_search_opts {
    char *model, *data, *hw; /* owned (strdup); hw may be NULL for the size metric */
    char *policy;            /* owned: RL_POLICY's policy (file, HAQ list or w4a4 shorthand) */
    struct rl_env_cfg env;
    enum rl_strategy strategy;
    int episodes, warmup;
    uint64_t seed;
    int val_size, train_size, split_seed; /* 0, 0: defaults from the data (see rl_search_run) */
    int batch, loaders, calib_batches;
    int ft_epochs;                        /* fine-tune epochs per episode (1) */
    float ft_lr, ft_momentum, ft_wd, ft_decay; /* 1e-3, 0.9, 4e-5, ×0.8 per epoch */
    int reward_train;                     /* the release's reward on the fine-tune's train top-1 */
    int fill;                        /* rl_env_fill after the wall (not uniform) */
    struct q_options q;                   /* quantizer options (k-means: 3 iterations) */
    /* agent overrides: < 0 (or 0 for ints) = the release's value */
    int hidden, agent_batch, memory;
    float lr_actor, lr_critic, tau, discount, sigma0, sigma_decay, baseline_alpha;
    int quiet; /* no per-episode progress lines */
};

/* The defaults: DDPG, 600 episodes, warm-up 20, seed 234, batch 64, linear env at latency ratio
 * 0.6 on bitfusion-edge. */
void rl_search_defaults(struct rl_search_opts *o);
void rl_search_opts_free(struct rl_search_opts *o);

/* One finished search's summary. */
struct rl_search_result {
    int episodes, best_episode;
    double best_reward, best_top1, fp_top1, best_cost_ratio;
    double latency_ms, energy_mj, size_bytes; /* of the best policy */
    double t_finetune, t_eval, t_agent, t_hw; /* seconds, summed over the episodes run now */
};

/* Run (resume = 0: DIR must not hold a search yet) or continue (resume = 1: options come from
 * DIR/config.txt; o->episodes, when larger, extends the run) the search into dir. The baselines
 * with one policy (uniform, greedy, wall, policy) score it o->episodes times, each episode with
 * its own seeds (the spread of the reward for one policy). Returns 0 or −1 (nn_err). */
int rl_search_run(struct rl_search_opts *o, const char *dir, int resume,
                  struct rl_search_result *res);

/* Parse one option of the search by its long name (as the command line and config.txt spell
 * it): 1 if it was one, 0 if the name is unknown, −1 on a bad value (nn_err). */
int rl_search_set(struct rl_search_opts *o, const char *key, const char *value);

/* Write the options as `key = value` lines. */
int rl_search_write_opts(const struct rl_search_opts *o, char *buf, size_t cap);

#endif
