/* HAQ's environments (HAQ_SPEC §2): the layer walk an agent acts on, its state embedding, the
 * action-to-bits mapping, the hardware cost of a policy and the budget wall.
 *
 * linear (weights + activations): two steps per quantizable layer, the weight bits and then the
 *   input-activation bits; budget on latency, energy or size of a hardware model, relative to
 *   the all-8/8 network (size: relative to fp32).
 * k-means (weights only): one step per layer; budget on size relative to fp32.
 *
 * State, one row per step, min–max scaled per column over the rows of the static part (a
 * constant column stays raw):
 *   1 is_depthwise · 2 c_in · 3 c_out · 4 stride · 5 kernel · 6 weights · 7 input area h·w
 *   (FC: in_features) · 8 layer index · 9 previous step's bits (linear: / max_bit; k-means: raw
 *   bits of the previous layer) · 10 (linear only) 0 for a weight step, 1 for an activation step.
 * Column 9 starts at 1.0 (linear: max_bit/max_bit) and 4 (k-means, raw bits) on the first step.
 * FC layers have stride 0 and kernel 1.
 *
 * step_budget (an extension from AMC, which HAQ builds on; off by default, as in the release):
 * every action is bounded as it is taken so that the budget stays reachable — the largest bits
 * at or below the agent's for which the layers already chosen, this layer (an unchosen
 * activation at min) and every later layer at min fit under the target — and the state gains
 * two columns, the cost of the layers already chosen and of the later layers at min bits, each
 * over the target. The agent then learns from the bits it played (the release learns from its
 * unbounded proposals, which the wall at the end rewrites from the last layer backwards), and
 * the wall never fires.
 *
 * Action a ∈ [0, 1] → bits = round(a·(max − min + 1) + min − 0.5) (half to even, as NumPy),
 * clamped to [min, max].
 *
 * The budget wall (rl_env_wall) runs at the end of an episode: target = ratio · reference cost;
 * while cost > target and cost > the all-minimum cost, sweep the layers from last to first,
 * lowering in each first the activation bits by one (if above min) and re-checking, then the
 * weight bits; stop as soon as the cost is under the target. With hold (linear default) the
 * first layer stays at W8 with its input (the image) unquantized and the last layer at W8A8, in
 * every episode — the release holds them only when the wall fires; the engine always does, so
 * the agent's actions on those layers never matter and every policy it sees obeys the rule.
 *
 * Costs come from a table built once per environment (every layer at every bit pair through
 * hw_cost), so scoring a policy is O(layers). Size is quant's exact byte accounting (hw_size_bytes:
 * packed weights plus scales or codebooks) against 4 bytes per fp32 weight; the release's
 * k-means env counts bits·weights only, which differs by the codebooks (2^b floats per layer). */
#ifndef HAQ_RL_ENV_H
#define HAQ_RL_ENV_H

#include "hw/model.h"
#include "hw/size.h"
#include "nn/graph.h"
#include "quant/quantize.h"

struct rl_env_cfg {
    enum q_method method;  /* Q_LINEAR (two steps per layer) or Q_KMEANS (one) */
    enum hw_metric metric; /* latency, energy (linear only) or size */
    double ratio;          /* budget: ratio · reference cost */
    int min_bit, max_bit;  /* action range (defaults: 2/8 linear, 1/8 k-means) */
    int hold;              /* first layer W8 + float input, last W8A8 (default: linear 1) */
    int step_budget;       /* bound every action so the budget stays reachable (default 0) */
};

/* The defaults for a method: linear 2…8 bits, latency, hold; k-means 1…8, size, no hold. */
struct rl_env_cfg rl_env_cfg_default(enum q_method method);

#define RL_ENV_FEATURES 12 /* the most columns a state has (linear with step_budget) */

struct rl_env {
    struct rl_env_cfg cfg;
    int n_layers, steps, state_dim;
    struct hw_layer *layers; /* [n_layers] */
    struct hw_cost *cost;    /* [n_layers][9][9]: [w][a], index 0 = Q_FLOAT, 1..8 bits */
    double *size;            /* [n_layers][9][9]: bytes (hw_size_bytes) */
    unsigned char *ok;       /* [n_layers][9][9]: the model covers that pair */
    float *emb;              /* [steps][state_dim], column 9 filled as the episode runs */
    double ref_cost, target, min_cost;
    double *rest_min; /* [n_layers + 1]: the cost of layers l… at the minimum (held) bits */
    /* the episode in progress */
    int step;
    int *w_bits, *a_bits; /* [n_layers]: the agent's bits; after rl_env_wall, the policy's */
    float action;         /* the last step's action as taken (step_budget: as bounded) */
    float state[RL_ENV_FEATURES];
};

/* Build the environment for the quantizable layers of g on hardware m (images per inference:
 * m->batch, or 1). m may be NULL for the size metric. Fails (nn_err) when the model cannot cost
 * a bit pair the action range needs, or when the budget is below the all-minimum policy. */
int rl_env_init(struct rl_env *e, const struct nn_graph *g, const struct hw_model *m,
                const struct rl_env_cfg *cfg);
void rl_env_free(struct rl_env *e);

/* Start an episode; returns the first state (state_dim floats, valid until the next call). */
const float *rl_env_reset(struct rl_env *e);
/* Take action a for the current step: records its bits (step_budget: bounded, the action taken
 * in e->action) and returns the next state (the last state again at the end); *done = 1 after
 * the episode's last step. */
const float *rl_env_step(struct rl_env *e, float a, int *done);

/* bits of an action in [min_bit, max_bit]. */
int rl_env_bits(const struct rl_env *e, float a);

/* Cost of per-layer bits in the budget's metric (the table's units: cycles for latency, pJ for
 * energy, bytes for size). Bits are policy codes (Q_FLOAT allowed where the model covers it). */
double rl_env_cost(const struct rl_env *e, const int *w, const int *a);
/* Latency (ms), energy (mJ) and size (bytes) of per-layer bits; any pointer may be NULL. NAN
 * for what a lookup-table model cannot give. */
void rl_env_costs(const struct rl_env *e, const int *w, const int *a, double *latency_ms,
                  double *energy_mj, double *size_bytes);
/* 1 if the environment costs layer l at codes (w, a): w 1..8, a Q_FLOAT or 1..8, a pair the
 * hardware model covers. */
int rl_env_covers(const struct rl_env *e, int l, int w, int a);
/* The cost of layer l at codes (w, a) (Q_FLOAT = 0 allowed for a). */
const struct hw_cost *rl_env_layer_cost(const struct rl_env *e, int l, int w, int a);
/* Apply the hold rule to w/a (no-op without hold). */
void rl_env_hold(const struct rl_env *e, int *w, int *a);
/* The budget wall on w/a in place (hold applied first). Returns the resulting cost. */
double rl_env_wall(const struct rl_env *e, int *w, int *a);

/* Fill the budget: while some single one-bit raise (a layer's weight or activation bits, up to
 * max_bit) keeps the cost under the target, make the cheapest one (ties: the earlier layer,
 * weights first). The wall leaves slack below the target; on BitFusion a 3 → 4 bit raise of a
 * compute-bound layer costs almost nothing (3 bits run at 4-bit speed), so the slack buys
 * precision where it is nearly free. Held layers are left alone. Returns the cost. */
double rl_env_fill(const struct rl_env *e, int *w, int *a);

/* The largest uniform policy under the budget: every layer at k/k (k-means: weights at k), k
 * from max_bit down, hold applied. Returns k, or −1 when none fits. */
int rl_env_uniform(const struct rl_env *e, int *w, int *a);

/* The episode's policy (after rl_env_wall) as a q_policy (allocated; q_policy_free). */
int rl_env_policy(const struct rl_env *e, const int *w, const int *a, struct q_policy *p);

#endif
